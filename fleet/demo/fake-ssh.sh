#!/bin/sh
# Stands in for `ssh` in tests: drops the options and the target, then runs the
# quoted remote command on this machine, as sshd would hand it to a shell.
# Exits 255 (ssh's "could not connect") for a target named "unreachable".
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  case $1 in
    -o) shift 2 ;;
    *) target=$1; shift ;;
  esac
done
shift
case ${target:-} in *unreachable*) echo "ssh: connect to host $target: refused" >&2; exit 255 ;; esac
echo "fake-ssh: on $target" >&2
exec sh -c "$*"
