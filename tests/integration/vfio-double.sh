# SPDX-License-Identifier: MIT
# VFIO passthrough against a TEST DOUBLE, NOT REAL HARDWARE: these hosts
# have no IOMMU and no /dev/vfio. tern-vfio-double is tern linked with the
# double of the VFIO/iommufd uAPI (tests/unit/test-vfio-double.c) playing a
# made-up PCI function; the vfio-double-test guest drives it through the
# real KVM: BARs, registers, a KVM-slot BAR area that follows its BAR, DMA,
# MSI-X and INTx with resample, and MSI (masked and unmasked) on a function
# without MSI-X. docs/vfio.md lists what a run on an IOMMU
# host must check. The product tern is checked for its refusal here.
#
# Run as: bash vfio-double.sh TERN_VFIO_DOUBLE FIRMWARE_DIR TERN
. "$(dirname "$0")/lib.sh"
REAL_TERN=${3:?usage: $0 TERN_VFIO_DOUBLE FIRMWARE_DIR TERN}

# The product binary on this host: no VFIO, so exit 2 naming what is missing.
begin "tern refuses --device vfio= without /dev/vfio (product binary)"
if [ -e /dev/vfio/vfio ]; then
	skip_case "$CASE" "this host has /dev/vfio/vfio"
	CASES=$((CASES - 1))
else
	timeout -k 5 30 "$REAL_TERN" run --device vfio=0000:01:00.0 --test-exit \
		</dev/null >"$TMP/out" 2>"$TMP/err"
	STATUS=$?
	expect_status 2
	expect_line err '--device vfio=0000:01:00.0: /dev/vfio/vfio is missing'
	end
fi

begin "a bad --device is refused before anything is built"
timeout -k 5 30 "$REAL_TERN" run --device vfio=01:00 </dev/null >"$TMP/out" 2>"$TMP/err"
STATUS=$?
expect_status 2
expect_line err "--device 'vfio=01:00': '01:00' is not a PCI address"
end

need_kvm

begin "double (no real device): guest drives BARs, DMA, MSI-X, INTx+resample"
run_tern 120 run --device vfio=0000:01:00.0 --test-exit --kernel "$FW/vfio-double-test.elf"
expect_pass
expect_line out 'BARs sized, moved, registers read and written'
expect_line out 'DMA into guest RAM'
expect_line out 'MSI-X vector 0 delivered'
expect_line out 'INTx delivered, resampled on EOI, quiet once lowered'
end

begin "double (no real device): MSI on a function without MSI-X, masking, then INTx"
export TERN_VFIO_DOUBLE_MSI_ONLY=1
run_tern 120 run --device vfio=0000:01:00.0 --test-exit --kernel "$FW/vfio-double-test.elf"
unset TERN_VFIO_DOUBLE_MSI_ONLY
expect_pass
expect_line out 'MSI vector 1 delivered \(no MSI-X\)'
expect_line out 'MSI masked: held pending, delivered on unmask'
expect_no_line out 'MSI-X vector 0 delivered'
expect_line out 'INTx delivered, resampled on EOI, quiet once lowered'
end

begin "double (no real device): query-pci, system_reset and quit under the sandbox"
"$TERN" run --paused --qmp "unix:$TMP/q.sock" --device vfio=0000:01:00.0 --test-exit \
	</dev/null >"$TMP/out" 2>"$TMP/err" &
pid=$!
for _ in $(seq 50); do [ -S "$TMP/q.sock" ] && break; sleep 0.1; done
"$REAL_TERN" qmp "$TMP/q.sock" query-pci >"$TMP/pci" 2>&1 || fail "query-pci: $(cat "$TMP/pci")"
# The passed-through function (vendor 0x7e57) with its host address.
python3 - "$TMP/pci" <<'PY' || fail "query-pci: $(cat "$TMP/pci")"
import json, sys
devs = json.load(open(sys.argv[1]))["return"][0]["devices"]
mine = [d for d in devs if d["id"]["vendor"] == 0x7e57]
assert len(mine) == 1 and mine[0].get("x-tern-vfio-host") == "0000:01:00.0", mine
assert all("x-tern-vfio-host" not in d for d in devs if d not in mine)
PY
"$REAL_TERN" qmp "$TMP/q.sock" system_reset >"$TMP/qmp" 2>&1 || fail "system_reset: $(cat "$TMP/qmp")"
"$REAL_TERN" qmp "$TMP/q.sock" quit >>"$TMP/qmp" 2>&1 || fail "quit: $(cat "$TMP/qmp")"
timeout 30 tail --pid=$pid -f /dev/null
wait $pid
STATUS=$?
expect_status 0
expect_no_line err 'sandbox'
end

begin "double (no real device): system_reset hot-resets a function without FLR"
export TERN_VFIO_DOUBLE_NO_FLR=1
"$TERN" run --paused --qmp "unix:$TMP/q2.sock" --device vfio=0000:01:00.0 --test-exit \
	</dev/null >"$TMP/out" 2>"$TMP/err" &
pid=$!
unset TERN_VFIO_DOUBLE_NO_FLR
for _ in $(seq 50); do [ -S "$TMP/q2.sock" ] && break; sleep 0.1; done
"$REAL_TERN" qmp "$TMP/q2.sock" system_reset >"$TMP/qmp" 2>&1 || fail "system_reset: $(cat "$TMP/qmp")"
"$REAL_TERN" qmp "$TMP/q2.sock" system_reset >>"$TMP/qmp" 2>&1 || fail "system_reset: $(cat "$TMP/qmp")"
"$REAL_TERN" qmp "$TMP/q2.sock" quit >>"$TMP/qmp" 2>&1 || fail "quit: $(cat "$TMP/qmp")"
timeout 30 tail --pid=$pid -f /dev/null
wait $pid
STATUS=$?
expect_status 0
expect_line err 'vfio-double: hot reset 1 \(1 group fds\)'
expect_line err 'vfio-double: hot reset 2 \(1 group fds\)'
expect_no_line err 'no hot reset'
expect_no_line err 'sandbox'
end

begin "double (no real device): iommufd=on where the double offers no /dev/iommu"
run_tern 30 run --device vfio=0000:01:00.0,iommufd=on --test-exit
expect_status 2
expect_line err 'iommufd=on but /dev/iommu'
end

begin "double (no real device): a function that does not exist"
run_tern 30 run --device vfio=0000:02:00.0 --test-exit
expect_status 2
expect_line err '0000:02:00.0/iommu_group: no such link'
end

finish
