#!/usr/bin/env bash
# peer-bench: etcd and tillgate on this box, one after the other in one run
# (issue 16, goal 1). A 3-member etcd (Debian's etcd-server) on loopback
# takes WRITERS concurrent writers of VALUE_SIZE-byte values (bench/peer,
# its own Go module) for DURATION; then `tillbench local` runs its closed
# loop at REGISTERS registers for DURATION. It prints both rates, each
# side's CPU per operation, the ratio and the load average: the box is
# shared, so only the ratio of one run means anything.
set -euo pipefail
cd "$(dirname "$0")/.."

WRITERS=${WRITERS:-2000}
REGISTERS=${REGISTERS:-2000}
VALUE_SIZE=${VALUE_SIZE:-400}
DURATION=${DURATION:-30s}

if ! command -v etcd >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "peer-bench: installing Debian's etcd-server"
		apt-get install -y etcd-server >/dev/null || { apt-get update >/dev/null && apt-get install -y etcd-server >/dev/null; }
	else
		echo "peer-bench: SKIPPED: no etcd binary, and installing Debian's etcd-server needs root and apt-get"
		exit 0
	fi
fi

work=$(mktemp -d /tmp/peer-bench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

# CPU seconds (user + system) a process has used so far.
cpu_of() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

(cd bench/peer && go build -o "$work/peer" .)
make -s build

declare -a client peer
cluster=""
for i in 1 2 3; do
	client[$i]=$(free_port)
	peer[$i]=$(free_port)
	cluster="${cluster:+$cluster,}m$i=http://127.0.0.1:${peer[$i]}"
done
endpoints=""
for i in 1 2 3; do
	etcd --name "m$i" --data-dir "$work/m$i" \
		--listen-client-urls "http://127.0.0.1:${client[$i]}" --advertise-client-urls "http://127.0.0.1:${client[$i]}" \
		--listen-peer-urls "http://127.0.0.1:${peer[$i]}" --initial-advertise-peer-urls "http://127.0.0.1:${peer[$i]}" \
		--initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token peer-bench \
		--logger zap --log-level warn >"$work/m$i.log" 2>&1 &
	pids+=($!)
	endpoints="${endpoints:+$endpoints,}http://127.0.0.1:${client[$i]}"
done

echo "peer-bench: etcd $(etcd --version | head -1 | awk '{print $3}'), 3 members on loopback, $WRITERS writers of $VALUE_SIZE-byte values, $DURATION"
before=0
for p in "${pids[@]}"; do before=$(awk -v a="$before" -v b="$(cpu_of "$p")" 'BEGIN{print a+b}'); done
etcd_load=$(cut -d' ' -f1-3 /proc/loadavg)
etcd_line=$("$work/peer" --endpoints "$endpoints" --writers "$WRITERS" --value-size "$VALUE_SIZE" --duration "$DURATION")
after=0
for p in "${pids[@]}"; do after=$(awk -v a="$after" -v b="$(cpu_of "$p")" 'BEGIN{print a+b}'); done
echo "  $etcd_line"
for p in "${pids[@]}"; do kill "$p"; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()

echo "peer-bench: tillgate, tillbench local closed loop, $REGISTERS registers, $DURATION"
till_load=$(cut -d' ' -f1-3 /proc/loadavg)
bin/tillbench local --registers "$REGISTERS" --duration "$DURATION" >"$work/tillbench.txt" 2>&1 || {
	tail -40 "$work/tillbench.txt"; echo "peer-bench: tillbench failed"; exit 1; }
grep -E '^  (Throughput|node[0-9]+ |acqsim |tillbench )' "$work/tillbench.txt" | sed 's/^/  /'

puts=$(awk '{for (i=1;i<=NF;i++) if ($i=="puts/s") print $(i+1)}' <<<"$etcd_line")
nputs=$(awk '{print $2}' <<<"$etcd_line")
tx=$(awk '/^  Throughput:/ {print $2}' "$work/tillbench.txt")
cluster_ms=$(awk '/^  node[0-9]+ / {s += $3} END {print s}' "$work/tillbench.txt")
echo
printf "%-10s %12s %22s   %s\n" "" "ops/s" "cluster CPU ms per op" "load average at start"
printf "%-10s %12s %22s   %s\n" "etcd" "$puts" "$(awk -v a="$after" -v b="$before" -v n="$nputs" 'BEGIN{printf "%.3f", (a-b)*1000/n}')" "$etcd_load"
printf "%-10s %12s %22s   %s\n" "tillgate" "$tx" "$cluster_ms" "$till_load"
awk -v t="$tx" -v e="$puts" 'BEGIN{printf "ratio tillgate tx/s / etcd puts/s: %.2f (goal >= 1.4)\n", t/e}'
