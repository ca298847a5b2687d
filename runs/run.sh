#!/usr/bin/env bash
# Carry a paper-preset run across build machines that keep nothing but the git repository.
#
#   bash runs/run.sh start  NAME COMMIT REPRODUCTION [ARGS...]   pin a new run (writes runs/NAME/run.env);
#                                    REPRODUCTION may be a script, benchmarks/NAME.py, run as python SCRIPT ARGS;
#                                    re-pinning removes the old worktree (refused while a run works in it)
#   bash runs/run.sh resume NAME     restore runs/NAME/cache, launch the run in the background
#   bash runs/run.sh save   NAME     copy the run's cache (trained nets, epoch checkpoints, finished
#                                    units) into runs/NAME/cache, to be committed
#   bash runs/run.sh status NAME     the log's last lines and what the cache holds
#
# Why pinned: finished units are reused only by the same code (artx.engines.code_fingerprint), so
# the run executes a worktree of COMMIT (../runs-NAME), imported ahead of the editable install
# through PYTHONPATH; trained nets are keyed by their training spec and survive any commit.
# Needs the README's installation (its venv active, its dependencies those of COMMIT).
# Files: the worktree ../runs-NAME, the cache ../runs-NAME-cache (ARTX_CACHE_DIR), the log
# /tmp/runs/NAME.log ("rc=… wall=…" appended at the end). Outputs go to the worktree's --out.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
command="${1:?usage: run.sh start|resume|save|status NAME ...}"
name="${2:?usage: run.sh $command NAME ...}"
state="$repo/runs/$name"
worktree="$(dirname "$repo")/runs-$name"
cache="$(dirname "$repo")/runs-$name-cache"
log="/tmp/runs/$name.log"

# a reproduction by its registry name, or a script (a benchmark whose checkpoints live in the artx cache)
command_of() {
  case "$1" in
  *.py) echo "python $1" ;;
  *) echo "artx -v reproduce $1" ;;
  esac
}

case "$command" in
start)
  commit="$(git rev-parse --verify "${3:?COMMIT}^{commit}")"
  reproduction="${4:?REPRODUCTION}"
  shift 4
  # a re-pin: the worktree of the earlier commit goes, unless a process still works in it
  if [ -d "$worktree" ] && [ "$(git -C "$worktree" rev-parse HEAD)" != "$commit" ]; then
    for proc in /proc/[0-9]*; do
      case "$(readlink "$proc/cwd" 2>/dev/null)" in
      "$worktree" | "$worktree"/*)
        echo "$worktree is in use (pid ${proc#/proc/}): stop that run before re-pinning $name" >&2
        exit 1
        ;;
      esac
    done
    old="$(git -C "$worktree" rev-parse --short HEAD)"
    git worktree remove --force "$worktree"
    echo "removed $worktree (it was at $old)"
  fi
  mkdir -p "$state/cache"
  {
    echo "COMMIT=$commit"
    echo "REPRODUCTION=$reproduction"
    printf 'ARGS=%q\n' "$*"
  } >"$state/run.env"
  echo "pinned $name at $commit: $(command_of "$reproduction") $*"
  ;;
resume)
  # shellcheck disable=SC1091
  . "$state/run.env"
  [ -d "$worktree" ] || git worktree add --detach "$worktree" "$COMMIT"
  [ "$(git -C "$worktree" rev-parse HEAD)" = "$COMMIT" ] || { echo "$worktree is not at $COMMIT" >&2; exit 1; }
  # The reproductions install as the package artx_reproductions (setup.cfg's package_dir).
  mkdir -p "$worktree-py" "$cache" /tmp/runs
  ln -sfn "$worktree/reproductions" "$worktree-py/artx_reproductions"
  cp -rn "$state/cache/." "$cache/"
  export PYTHONPATH="$worktree:$worktree/plugins:$worktree-py" ARTX_CACHE_DIR="$cache" OMP_NUM_THREADS=1
  cd "$worktree"
  python -c "import artx, sys; sys.exit(0 if artx.__file__.startswith('$worktree/') else 'artx not imported from the worktree')"
  # shellcheck disable=SC2086
  nohup bash -c "s=\$(date +%s); $(command_of "$REPRODUCTION") $ARGS > '$log' 2>&1; echo \"rc=\$? wall=\$(( \$(date +%s) - s ))\" >> '$log'" \
    >/dev/null 2>&1 &
  echo "started $name (pid $!) in $worktree at $COMMIT; log $log"
  ;;
save)
  mkdir -p "$state/cache"
  # everything but the converted-data cache (rebuilt from --data-dir in seconds)
  (cd "$cache" && find . -type f ! -path './data/*' ! -name '*.tmp' -print0) |
    while IFS= read -r -d '' file; do
      mkdir -p "$state/cache/$(dirname "$file")"
      cmp -s "$cache/$file" "$state/cache/$file" || cp "$cache/$file" "$state/cache/$file"
    done
  # a checkpoint whose model is finished is never read again
  for model in "$state"/cache/models/*.pt; do
    [ -e "$model" ] && rm -f "$state/cache/checkpoints/$(basename "${model%.pt}").ckpt"
  done
  du -sh "$state/cache"
  ;;
status)
  tail -n 5 "$log" 2>/dev/null || echo "no log at $log"
  for part in models checkpoints units; do
    echo "$part: $(find "$cache/$part" -type f 2>/dev/null | wc -l) file(s) here, $(find "$state/cache/$part" -type f 2>/dev/null | wc -l) saved"
  done
  ;;
*)
  echo "unknown command $command" >&2
  exit 2
  ;;
esac
