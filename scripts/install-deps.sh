#!/bin/bash
# SPDX-License-Identifier: MIT
# Install what tern needs to build (and, with --test, to run its tests and
# benchmarks) from Debian 12 packages. Installs only what is missing.
set -euo pipefail
pkgs=(gcc libc6-dev meson ninja-build pkg-config libglib2.0-dev libpcre2-dev libjson-c-dev
      liburing-dev libaio-dev libseccomp-dev libcap-ng-dev libfdt-dev check)
if [ "${1:-}" = --test ]; then
	# The peer VMM for compatibility tests, and what the test scripts use.
	# iputils-ping: tests/integration/net*.sh ping the guest. clang with
	# libFuzzer: the fuzz targets CI runs (tests/fuzz; zlib1g-dev: the state
	# target checksums its inputs with zlib's crc32). DPDK: dpdk-testpmd
	# is the vhost-user-net back-end of tests/integration/vhost-user-net.sh;
	# the binary is in dpdk, the mempool/ring drivers come with dpdk-dev,
	# and the net_vhost driver (only a Recommends of dpdk) is its own package.
	pkgs+=(python3 qemu-system-x86 cpio busybox-static iproute2 iputils-ping fio time bc
	       acpica-tools clang libfuzzer-14-dev zlib1g-dev dpdk dpdk-dev librte-net-vhost23)
fi
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: missing packages ${missing[*]}; run as root" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	echo "install-deps: installed ${missing[*]}"
fi
