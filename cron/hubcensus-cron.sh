#!/usr/bin/env bash
# hubcensus-cron.sh: one scheduled census run, safe to start from cron or a systemd timer.
#
#   1. takes an exclusive flock (a second concurrent run says so and exits 0),
#   2. runs `hubcensus crawl` (incremental; resumes an unfinished full walk; a full walk when the last
#      completed one is older than 7 days, crawl's default `--full-every 7d`: renames, no-longer-public),
#   3. writes `hubcensus report --out $REPORTS/<UTC date>` and points `$REPORTS/latest` at it,
#   4. logs everything to $LOGS/hubcensus-<UTC timestamp>.log, keeping the newest $HUBCENSUS_KEEP_LOGS.
#
# Environment (all optional):
#   HUBCENSUS_HOME        base directory                      [default: $HOME/hubcensus]
#   HUBCENSUS_DB          the DuckDB file                     [default: $HUBCENSUS_HOME/hubcensus.duckdb]
#   HUBCENSUS_LOG_DIR     log directory                       [default: $HUBCENSUS_HOME/logs]
#   HUBCENSUS_REPORT_DIR  report directory                    [default: $HUBCENSUS_HOME/reports]
#   HUBCENSUS_KEEP_LOGS   how many logs to keep               [default: 14]
#   HUBCENSUS_BIN         the hubcensus executable            [default: hubcensus on PATH]
#   HUBCENSUS_DEEP_MINUTES time budget of the header pass; the rest waits for the next run [default: 240]
#   HUBCENSUS_CRAWL_ARGS  extra crawl arguments, e.g. "--full-every 3d" [default: none]
#   HF_TOKEN, HF_ENDPOINT as for `hubcensus crawl` (the token is never logged).
# Exit status: that of the crawl (0 ok, 75 database busy, ...), else that of the report.
set -uo pipefail

home=${HUBCENSUS_HOME:-$HOME/hubcensus}
export HUBCENSUS_DB=${HUBCENSUS_DB:-$home/hubcensus.duckdb}
log_dir=${HUBCENSUS_LOG_DIR:-$home/logs}
report_dir=${HUBCENSUS_REPORT_DIR:-$home/reports}
keep=${HUBCENSUS_KEEP_LOGS:-14}
bin=${HUBCENSUS_BIN:-hubcensus}
lock="$home/hubcensus-cron.lock"

mkdir -p "$home" "$log_dir" "$report_dir"
exec 9>>"$lock"
if ! flock --nonblock 9; then
    echo "hubcensus-cron: another run holds the lock $lock; exiting" >&2
    exit 0
fi

day=$(date -u +%Y-%m-%d)
log="$log_dir/hubcensus-$(date -u +%Y%m%dT%H%M%SZ).log"
# Rotation: keep the newest $keep logs (names sort by time), counting the one about to be written.
ls -1 "$log_dir" | grep -E '^hubcensus-[0-9TZ]+\.log$' | sort -r | tail -n +"$keep" \
    | while read -r old; do rm -f -- "$log_dir/$old"; done

stamp() { date -u +%Y-%m-%dT%H:%M:%SZ; }
(
    echo "$(stamp) hubcensus-cron: crawl into $HUBCENSUS_DB"
    # shellcheck disable=SC2086 # HUBCENSUS_CRAWL_ARGS is a word list on purpose
    "$bin" crawl --deep-minutes "${HUBCENSUS_DEEP_MINUTES:-240}" ${HUBCENSUS_CRAWL_ARGS:-}
    crawl_rc=$?
    echo "$(stamp) hubcensus-cron: crawl exited $crawl_rc"
    if [ "$crawl_rc" -ne 0 ]; then
        exit "$crawl_rc"
    fi
    "$bin" report --out "$report_dir/$day"
    report_rc=$?
    echo "$(stamp) hubcensus-cron: report exited $report_rc"
    if [ "$report_rc" -eq 0 ]; then
        ln -sfn "$day" "$report_dir/latest"
        echo "$(stamp) hubcensus-cron: $report_dir/latest -> $day"
    fi
    exit "$report_rc"
) >>"$log" 2>&1
rc=$?
[ "$rc" -eq 0 ] || echo "hubcensus-cron: failed with exit $rc, see $log" >&2
exit "$rc"
