# SPDX-License-Identifier: MIT
# Boot every firmware guest through the real tern binary on /dev/kvm.
. "$(dirname "$0")/lib.sh"
need_kvm

begin "embedded default guest: banner, i8042 reset, exit 0"
run_tern 30 run
expect_status 0
expect_line out '^tern hello: 1 CPUs, 128 MiB memory$'
end

begin "embedded guest sees --cpus and --memory"
run_tern 30 run --cpus 3 --memory 300M
expect_status 0
expect_line out '^tern hello: 3 CPUs, 300 MiB memory$'
end

begin "memory above the 32-bit hole is reported"
run_tern 30 run --memory 4G
expect_status 0
expect_line out '^tern hello: 1 CPUs, 4096 MiB memory$'
end

for code in 0 1 5 42 127; do
	begin "exit-code guest code=$code leaves with status ($code << 1) | 1"
	run_tern 30 run --kernel "$FW/exit-code.elf" --test-exit --cmdline "code=$code"
	expect_status $(( ((code << 1) | 1) & 255 ))
	expect_line out "^exit-code: $code\$"
	end
done

begin "exit port absent without --test-exit (guest then halts; time-out expected)"
run_tern 3 run --kernel "$FW/exit-code.elf" --cmdline "code=3"
expect_status 124
expect_line out '^exit-code: 3$'
end

for n in 2 4; do
	# hwcr=1: each AMD vCPU starts with HWCR.TscFreqSel set.
	begin "smp guest wakes all $n vCPUs (HWCR.TscFreqSel set on AMD)"
	run_tern 60 run --kernel "$FW/smp.elf" --test-exit --cpus $n --cmdline hwcr=1
	expect_status 1
	expect_line out '^RESULT: PASS$'
	for ((i = 1; i < n; i++)); do expect_line out "AP apic-id=$i online"; done
	end
done

begin "smp guest finds all 4 vCPUs through the ACPI MADT alone (acpi=1)"
run_tern 60 run --kernel "$FW/smp.elf" --test-exit --cpus 4 --cmdline acpi=1
expect_status 1
expect_line out '^smp: 4 CPUs in the ACPI MADT$'
for ((i = 1; i < 4; i++)); do expect_line out "AP apic-id=$i online"; done
expect_line out '^RESULT: PASS$'
end

begin "ring3 guest runs its loop in ring 3"
run_tern 60 run --kernel "$FW/ring3.elf" --test-exit
expect_status 1
expect_line out '^ring3: 100000000 iterations done$'
expect_line out '^RESULT: PASS$'
end

begin "triple fault: exit reason and registers on stderr, status 4"
run_tern 30 run --kernel "$FW/triple-fault.elf" --test-exit
expect_status 4
expect_line err 'vCPU 0: triple fault'
expect_line err 'rip=0x'
expect_line err 'cr0=0x'
end

begin "console to a file"
run_tern 30 run --console "file=$TMP/console.log"
expect_status 0
if ! grep -q '^tern hello: 1 CPUs' "$TMP/console.log"; then fail "console file lacks the banner"; fi
expect_no_line out 'tern hello'
end

begin "console none"
run_tern 30 run --console none
expect_status 0
expect_no_line out 'tern hello'
end

begin "cpu feature mask accepted"
run_tern 30 run --cpu-features=-cx16,-xsave
expect_status 0
expect_line out '^tern hello'
end

begin "stdin reaches the 8250 (--console stdio)"
# The line is typed once the guest says it is ready: bytes that arrive
# while it sets the UART up are cleared with the FIFO, as on a real 16550
# (a fixed delay raced the guest on a loaded host).
mkfifo "$TMP/stdin"
timeout -k 5 30 "$TERN" run --kernel "$FW/serial-echo.elf" --test-exit <"$TMP/stdin" >"$TMP/out" 2>"$TMP/err" &
pid=$!
exec 3>"$TMP/stdin"
for _ in $(seq 200); do grep -q '^serial-echo: ready' "$TMP/out" && break; sleep 0.1; done
echo "hello tern" >&3
wait $pid
STATUS=$?
exec 3>&-
expect_status 1
expect_line out "^serial-echo: got 'hello tern'\$"
expect_line out '^RESULT: PASS$'
end

begin "SIGTERM ends a running guest with status 0"
timeout -k 5 30 "$TERN" run --kernel "$FW/counter.elf" </dev/null >"$TMP/out" 2>"$TMP/err" &
pid=$!
for _ in $(seq 50); do grep -q '^counter: 2$' "$TMP/out" && break; sleep 0.1; done
kill -TERM $pid
wait $pid
STATUS=$?
expect_status 0
expect_line out '^counter: 2$'
end

finish
