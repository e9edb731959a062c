#!/usr/bin/env bash
# Real peers for the test suite. Sourced by scripts/test.sh; can also be
# sourced by hand (`source scripts/peers.sh`) before `cargo test`.
#
# Installs what is missing and exports the paths of the binaries:
#   AUTOTEL_PROMETHEUS_BIN  Prometheus server (Debian package `prometheus`)
#   AUTOTEL_PROMTOOL_BIN    promtool (same package)
#   AUTOTEL_TEST_AGENT_BIN  ddapm-test-agent, an OTLP receiver (PyPI), in a
#                           virtualenv under target/peers/venv
# The tests start each peer themselves on a free 127.0.0.1 port.

autotel_peers_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

autotel_install_prometheus() {
    if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
        return 0
    fi
    local sudo=""
    if [ "$(id -u)" != "0" ]; then
        sudo="sudo"
    fi
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends prometheus
}

autotel_install_test_agent() {
    local venv="${autotel_peers_root}/target/peers/venv"
    if [ -x "${venv}/bin/ddapm-test-agent" ]; then
        return 0
    fi
    mkdir -p "${autotel_peers_root}/target/peers"
    python3 -m venv "${venv}"
    "${venv}/bin/pip" install --quiet --disable-pip-version-check 'ddapm-test-agent==1.69.1'
}

autotel_install_prometheus
autotel_install_test_agent

AUTOTEL_PROMETHEUS_BIN="$(command -v prometheus)"
AUTOTEL_PROMTOOL_BIN="$(command -v promtool)"
AUTOTEL_TEST_AGENT_BIN="${autotel_peers_root}/target/peers/venv/bin/ddapm-test-agent"
export AUTOTEL_PROMETHEUS_BIN AUTOTEL_PROMTOOL_BIN AUTOTEL_TEST_AGENT_BIN
echo "prometheus: ${AUTOTEL_PROMETHEUS_BIN}"
echo "promtool:   ${AUTOTEL_PROMTOOL_BIN}"
echo "test agent: ${AUTOTEL_TEST_AGENT_BIN}"
