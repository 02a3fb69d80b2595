# bash completion for jetsnap(1): commands, each command's options, instance
# names (from `jetsnap list --json`), snapshot ids of running instances, and
# API function names for `jetsnap call`.  Installed as
# $(datadir)/bash-completion/completions/jetsnap.

# The running instances' names, or (with "snapshot") their non-zero
# snapshot ids; parsed with bash alone, so no jq or python is needed.
_jetsnap_instances()
{
	local json key=${1:-name} re
	json=$("${COMP_WORDS[0]}" list --json 2>/dev/null) || return
	if [[ $key == name ]]; then
		re='"name":"([^"]*)"'
	else
		re='"snapshot":([1-9][0-9]*)'
	fi
	while [[ $json =~ $re ]]; do
		printf '%s\n' "${BASH_REMATCH[1]}"
		json=${json#*"${BASH_REMATCH[0]}"}
	done
}

_jetsnap()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local commands="exec shim-path list freeze thaw abort end status snapshot call recover"
	local cmd= i opts=

	COMPREPLY=()
	for ((i = 1; i < COMP_CWORD; i++)); do
		if [[ ${COMP_WORDS[i]} == -- ]]; then
			# After "--" comes the command that exec or snapshot runs.
			if ((i == COMP_CWORD - 1)); then
				COMPREPLY=($(compgen -c -- "$cur"))
			else
				COMPREPLY=($(compgen -f -- "$cur"))
			fi
			return
		fi
		[[ -z $cmd && ${COMP_WORDS[i]} != -* ]] && cmd=${COMP_WORDS[i]}
	done
	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--help --version" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return
	fi

	case $prev in
	--instance)
		COMPREPLY=($(compgen -W "$(_jetsnap_instances name)" -- "$cur"))
		return ;;
	--timeout)
		return ;;	# milliseconds
	--state-dir)
		COMPREPLY=($(compgen -d -- "$cur"))
		return ;;
	esac

	case $cmd in
	exec)		opts="--instance" ;;
	freeze)		opts="--instance --timeout" ;;
	snapshot)	opts="-v --verbose --instance --timeout" ;;
	list)		opts="--json" ;;
	status)		opts="--json" ;;
	end)		opts="--abort" ;;
	recover)	opts="--state-dir" ;;
	thaw|abort|shim-path|call) ;;
	*)		return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		# Every command has --help: offered once it is being typed.
		[[ $cur == --h* ]] && COMPREPLY+=(--help)
		return
	fi
	case $cmd in
	thaw|abort|end|status)
		COMPREPLY=($(compgen -W "$(_jetsnap_instances snapshot | sort -u)" -- "$cur")) ;;
	call)
		((COMP_CWORD == 2 || COMP_CWORD == 3)) && [[ ${COMP_WORDS[2]} == "$cur" ]] &&
			COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" call --help 2>/dev/null |
				sed -n 's/^  JET_ERR \([A-Za-z]*\)(.*/\1/p')" -- "$cur")) ;;
	esac
}
complete -F _jetsnap jetsnap
