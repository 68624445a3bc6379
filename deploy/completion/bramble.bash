# bash completion for bramble(8)
_bramble()
{
	local cur prev cmds opts
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	cmds="validate plan apply run status discover doctor images gc version help"
	opts="--config --source --path --root --tftp-root --nfs-root --state-dir --image-store
	      --set --allow-empty --adopt --verbose --quiet --json --dry-run --listen --interval
	      --probe-dhcp --as-pi --interface --help"
	case $prev in
	-c|--config)
		COMPREPLY=($(compgen -f -- "$cur")); return ;;
	-s|--source|-r|--root|--tftp-root|--nfs-root|--state-dir|--image-store)
		COMPREPLY=($(compgen -d -- "$cur")); return ;;
	--set|--path|--listen|--interval|--as-pi)
		return ;;
	--probe-dhcp|--interface)
		COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur")); return ;;
	esac
	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
	elif [ "${COMP_WORDS[1]}" = images ] && [ "$COMP_CWORD" -eq 2 ] && [[ $cur != -* ]]; then
		COMPREPLY=($(compgen -W "prune" -- "$cur"))
	else
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
	fi
}
complete -F _bramble bramble
