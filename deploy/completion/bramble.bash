# bash completion for bramble(8)
_bramble()
{
	local cur prev cmds opts
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	cmds="validate plan apply run status history reconcile suspend resume discover doctor images gc
	      version help"
	# The options each command takes (bramble COMMAND --help).
	opts="--config --source --path --root --tftp-root --nfs-root --state-dir --image-store
	      --set --verbose --help"
	case ${COMP_WORDS[1]} in
	validate) opts="$opts --quiet --json --offline" ;;
	plan) opts="$opts --allow-empty --adopt --accept-selector-change --quiet --json --color=" ;;
	apply) opts="$opts --allow-empty --adopt --accept-selector-change --quiet --force" ;;
	run) opts="$opts --allow-empty --adopt --accept-selector-change --quiet --listen --interval" ;;
	status) opts="$opts --json" ;;
	history) opts="$opts --json -n" ;;
	reconcile) opts="$opts --json --force --timeout" ;;
	suspend) opts="$opts --reason" ;;
	images) opts="$opts --quiet --json" ;;
	doctor) opts="$opts --json --probe-dhcp --as-pi --interface" ;;
	gc) opts="$opts --dry-run --quiet --json" ;;
	discover) opts="$opts --json" ;;
	version|help) opts="--help" ;;
	esac
	case $prev in
	-c|--config)
		COMPREPLY=($(compgen -f -- "$cur")); return ;;
	-s|--source|-r|--root|--tftp-root|--nfs-root|--state-dir|--image-store)
		COMPREPLY=($(compgen -d -- "$cur")); return ;;
	--set|--path|--listen|--interval|--as-pi|--reason|--timeout|-n)
		return ;;
	--probe-dhcp|--interface)
		COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur")); return ;;
	esac
	# --color=WHEN: "=" is a word of its own when COMP_WORDBREAKS holds it.
	if [ "$prev" = "=" ] && [ "${COMP_WORDS[COMP_CWORD-2]}" = --color ]; then
		COMPREPLY=($(compgen -W "auto always never" -- "$cur")); return
	elif [ "$prev" = --color ] && [ "$cur" = "=" ]; then
		COMPREPLY=(auto always never); return
	elif [[ $cur == --color=* ]]; then
		COMPREPLY=($(compgen -W "auto always never" -- "${cur#--color=}")); return
	fi
	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
	elif [ "${COMP_WORDS[1]}" = images ] && [ "$COMP_CWORD" -eq 2 ] && [[ $cur != -* ]]; then
		COMPREPLY=($(compgen -W "prune" -- "$cur"))
	elif [ "${COMP_WORDS[1]}" = help ] && [ "$COMP_CWORD" -eq 2 ]; then
		COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
	else
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
	fi
}
complete -F _bramble bramble
