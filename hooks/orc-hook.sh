#!/bin/sh
# orc-managed hook: @HOOK@
# Installed by `orc hooks install`; `orc hooks uninstall` removes this file
# and puts back the hook that was here before, kept beside it as
# @HOOK@.orc-user. Logs an event on the local orc branch; never fails and
# never blocks the git command: only the chained hook's status counts.
user_hook="$(dirname "$0")/@HOOK@.orc-user"
status=0
case "@HOOK@" in
  pre-push|post-rewrite)
    # These hooks read from stdin: keep it for both readers.
    input=$(cat)
    if [ -x "$user_hook" ]; then
      printf '%s\n' "$input" | "$user_hook" "$@"
      status=$?
    fi
    ;;
  *)
    input=
    if [ -x "$user_hook" ]; then
      "$user_hook" "$@"
      status=$?
    fi
    ;;
esac
# A push the user's hook blocked did not happen: nothing to log (post-*
# hooks cannot block, so their action happened whatever the status). orc
# writes its own errors to <git-common-dir>/orc/hooks.log (`orc doctor`).
#
# orc never holds git up: a hung orc (a stuck disk, a bug) is killed after
# 3 seconds by timeout(1) (GNU, busybox, or Homebrew's gtimeout); where
# there is none, orc runs in the background and git does not wait at all.
if { [ "@HOOK@" != pre-push ] || [ "$status" -eq 0 ]; } && command -v orc >/dev/null 2>&1; then
  if command -v timeout >/dev/null 2>&1; then
    printf '%s\n' "$input" | timeout -s KILL 3 orc hook @HOOK@ "$@" >/dev/null 2>&1 || true
  elif command -v gtimeout >/dev/null 2>&1; then
    printf '%s\n' "$input" | gtimeout -s KILL 3 orc hook @HOOK@ "$@" >/dev/null 2>&1 || true
  else
    printf '%s\n' "$input" | orc hook @HOOK@ "$@" >/dev/null 2>&1 &
  fi
fi
exit "$status"
