#!/usr/bin/env bash
# Installs the programs the suite needs beside Python's packages, and nothing else:
#   promtool  (Debian package "prometheus")         checks the scrape config, alert rules, rule tests
#   kubectl   (Debian package "kubernetes-client")  renders the kustomize manifests
#   chromium  (Debian package "chromium")           the browser Playwright drives through the pages
#
# Idempotent: a tool already on PATH is left as it is, and with both present nothing runs.
# The Debian "prometheus" package ships a server with an init script; it is installed
# with a policy-rc.d that forbids starting services, so no Prometheus server is left running.
set -euo pipefail

need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)
command -v chromium >/dev/null 2>&1 || need+=(chromium)

if [ "${#need[@]}" -eq 0 ]; then
    echo "install-tools: promtool, kubectl and chromium already on PATH"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

policy=/usr/sbin/policy-rc.d
backup=""
restore_policy() {
    if [ -n "$backup" ]; then
        $SUDO mv -f "$backup" "$policy"
    else
        $SUDO rm -f "$policy"
    fi
}
if [ -e "$policy" ]; then
    backup="$(mktemp /tmp/policy-rc.d.XXXXXX)"
    $SUDO cp -p "$policy" "$backup"
fi
trap restore_policy EXIT
# 101 = "action forbidden by policy": invoke-rc.d / deb-systemd-invoke start nothing.
printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
$SUDO chmod 0755 "$policy"

echo "install-tools: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${need[@]}"

# Belt and braces: if the package's init script did start a server anyway, stop it
# through the same init script (only that daemon, by its pid file).
if [ -x /etc/init.d/prometheus ] && $SUDO /etc/init.d/prometheus status >/dev/null 2>&1; then
    echo "install-tools: stopping the Prometheus server the package started"
    $SUDO /etc/init.d/prometheus stop || true
fi

for tool in promtool kubectl chromium; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "install-tools: $tool is still not on PATH after the install" >&2
        exit 1
    fi
done
echo "install-tools: $(promtool --version 2>&1 | head -n 1)"
echo "install-tools: kubectl $(kubectl version --client 2>/dev/null | head -n 1)"
