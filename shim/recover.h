/*
 * Crash recovery of hold journals (shim/recover.c), shared by the shim and
 * the jetsnap tool.
 */
#ifndef JETSNAP_RECOVER_H
#define JETSNAP_RECOVER_H

#include <stddef.h>
#include <stdint.h>

typedef void js_recover_log_fn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Replay every dead instance's journal in dir: how many were replayed, or
 * -1 if one could not be replayed whole (it is kept for the next try). */
int js_recover_dir(const char *dir, js_recover_log_fn *log);
/* pwrite all of it, with raw system calls: 0, or -1 with errno. */
int js_pwrite_all(int fd, const uint8_t *p, uint64_t len, uint64_t off);
/* JETSNAP_STATE_DIR, else the default below for the environment's runtime dir. */
void js_state_dir_from_env(char *buf, size_t cap);
/* $XDG_STATE_HOME/jetsnap, else ~/.local/state/jetsnap, else runtime_dir. */
void js_default_state_dir(char *buf, size_t cap, const char *runtime_dir);

#endif
