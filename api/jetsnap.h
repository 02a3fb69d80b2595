/*
 * jetsnap.h — the ESE "OS snapshot" API for Linux processes run under the
 * jetsnap preload shim.  See jetsnap(3) and SPEC.md for the contract.
 *
 * Every call returns a JET_ERR: 0 on success, a negative JET_err* code on
 * failure.  A failed call changes nothing.
 */
#ifndef JETSNAP_H
#define JETSNAP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int32_t JET_ERR;
typedef uint32_t JET_GRBIT;
typedef uintptr_t JET_API_PTR;
typedef JET_API_PTR JET_OSSNAPID;
typedef JET_API_PTR JET_INSTANCE;
typedef JET_API_PTR JET_SESID;

typedef struct {
	JET_INSTANCE hInstanceId;
	char *szInstanceName;
	JET_API_PTR cDatabases;
	char **szDatabaseFileName;
	char **szDatabaseDisplayName;
	char **szDatabaseSLVFileName_Obsolete;
} JET_INSTANCE_INFO;

#define JET_errSuccess                     0
#define JET_errInvalidGrbit                (-900)
#define JET_errInvalidParameter            (-1003)
#define JET_errOutOfMemory                 (-1011)
#define JET_errNotInitialized              (-1029)
#define JET_errOSSnapshotInvalidSequence   (-2401)
#define JET_errOSSnapshotTimeOut           (-2402)
#define JET_errOSSnapshotNotAllowed        (-2403)
#define JET_errOSSnapshotInvalidSnapId     (-2404)
/* ESE's codes for a drain that met a full disk or an I/O error: the rest
 * stays held (and journaled) and the instance retries; Thaw/Abort can be
 * called again. */
#define JET_errDiskIO                      (-1022)
#define JET_errDiskFull                    (-1808)

/* JetOSSnapshotPrepare */
#define JET_bitIncrementalSnapshot   0x00000001u
#define JET_bitCopySnapshot          0x00000002u
#define JET_bitContinueAfterThaw     0x00000004u
#define JET_bitExplicitPrepare       0x00000008u
/* JetOSSnapshotTruncateLog(Instance) */
#define JET_bitAllDatabasesSnapshot  0x00000001u
/* JetOSSnapshotEnd */
#define JET_bitAbortSnapshot         0x00000001u

#define JET_paramOSSnapshotTimeout   82

JET_ERR JetOSSnapshotPrepare(JET_OSSNAPID *psnapId, JET_GRBIT grbit);
JET_ERR JetOSSnapshotPrepareInstance(JET_OSSNAPID snapId, JET_INSTANCE instance,
				     JET_GRBIT grbit);
JET_ERR JetOSSnapshotFreeze(JET_OSSNAPID snapId, unsigned long *pcInstanceInfo,
			    JET_INSTANCE_INFO **paInstanceInfo, JET_GRBIT grbit);
JET_ERR JetOSSnapshotGetFreezeInfo(JET_OSSNAPID snapId, unsigned long *pcInstanceInfo,
				   JET_INSTANCE_INFO **paInstanceInfo, JET_GRBIT grbit);
JET_ERR JetOSSnapshotThaw(JET_OSSNAPID snapId, JET_GRBIT grbit);
JET_ERR JetOSSnapshotAbort(JET_OSSNAPID snapId, JET_GRBIT grbit);
JET_ERR JetOSSnapshotEnd(JET_OSSNAPID snapId, JET_GRBIT grbit);
JET_ERR JetOSSnapshotTruncateLog(JET_OSSNAPID snapId, JET_GRBIT grbit);
JET_ERR JetOSSnapshotTruncateLogInstance(JET_OSSNAPID snapId, JET_INSTANCE instance,
					 JET_GRBIT grbit);
JET_ERR JetGetInstanceInfo(unsigned long *pcInstanceInfo, JET_INSTANCE_INFO **paInstanceInfo);
JET_ERR JetFreeBuffer(char *pbBuf);
JET_ERR JetSetSystemParameter(JET_INSTANCE *pinstance, JET_SESID sesid, unsigned long paramid,
			      JET_API_PTR lParam, const char *szParam);
JET_ERR JetGetSystemParameter(JET_INSTANCE instance, JET_SESID sesid, unsigned long paramid,
			      JET_API_PTR *plParam, char *szParam, unsigned long cbMax);

/*
 * jetsnap extensions (not in ESE).
 */

/* The symbolic name of a JET_ERR ("JET_errOSSnapshotTimeOut"), or NULL. */
const char *JetsnapErrorName(JET_ERR err);

/*
 * The reason the last failing call made by this thread gave, in one line
 * ("/data/lmdb/data.mdb is mapped MAP_SHARED read-only while written"), or ""
 * when it gave none.  Valid until the thread's next API call.
 */
const char *JetsnapLastReason(void);

/* What one instance's shim reports about itself (jetsnap list / status). */
typedef struct {
	JET_INSTANCE hInstanceId;     /* the pid of the instance's root process */
	char szInstanceName[128];
	char szState[16];             /* "running", "frozen", "draining" */
	JET_OSSNAPID snapId;          /* the session it is enrolled in, or 0 */
	uint64_t cbHeld;              /* bytes of held writes not yet drained */
	uint64_t cHeldWrites;         /* held mutations since the freeze began */
	uint64_t cDrainedWrites;      /* held mutations applied by the last drain */
	uint64_t usFrozenFor;         /* length of the current or last freeze */
	uint64_t cFiles;              /* files held by the current or last freeze */
	uint64_t cbJournal;           /* bytes of the hold journal (records and data) */
	uint64_t cbDrained;           /* of those, applied by the drain in progress */
	uint32_t cProcesses;          /* live processes of the instance (its tree) */
	uint32_t rgProcessIds[64];    /* the first min(cProcesses, 64) of them */
	char szLastRefusal[256];      /* why its last Freeze was refused; "" if it was not */
} JETSNAP_INSTANCE_STATUS;

/* Every running instance of the caller's user; free *pa with JetFreeBuffer. */
JET_ERR JetsnapListInstances(unsigned long *pc, JETSNAP_INSTANCE_STATUS **pa);

#ifdef __cplusplus
}
#endif

#endif
