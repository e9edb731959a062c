#!/usr/bin/env bash
# Real peers for the test suite. Sourced by scripts/test.sh; can also be
# sourced by hand (`source scripts/peers.sh`) before `cargo test`.
#
# Installs what is missing and exports the paths of the binaries:
#   AUTOTEL_PROMETHEUS_BIN  Prometheus server (Debian package `prometheus`)
#   AUTOTEL_PROMTOOL_BIN    promtool (same package)
#   AUTOTEL_TEST_AGENT_BIN  ddapm-test-agent, an OTLP receiver (PyPI), in a
#                           virtualenv under target/peers/venv
#   AUTOTEL_PYTHON_BIN      that virtualenv's Python, with aiohttp (PyPI), for
#                           the W3C Trace Context harness that
#                           examples/tests/w3c_trace_context/ vendors
#   AUTOTEL_STATSD_DIR      a folder whose node_modules hold Etsy statsd 0.9.0
#                           (npm), under target/peers/statsd; run it with
#                           AUTOTEL_NODE_BIN
#   AUTOTEL_GRAFANA_SCHEMA_DIR
#                           a folder whose node_modules hold Grafana's
#                           dashboard types (@grafana/schema) and the
#                           TypeScript compiler that checks dashboards against
#                           them (npm), under target/peers/grafana
#   AUTOTEL_VICTORIA_METRICS_BIN
#                           VictoriaMetrics (Debian package `victoria-metrics`),
#                           which accepts Datadog series; its systemd unit does
#                           not start here, the tests run the binary themselves
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

autotel_install_harness_python() {
    local venv="${autotel_peers_root}/target/peers/venv"
    if "${venv}/bin/python3" -c 'import aiohttp, multidict' >/dev/null 2>&1; then
        return 0
    fi
    "${venv}/bin/pip" install --quiet --disable-pip-version-check 'aiohttp==3.14.5'
}

autotel_ensure_npm() {
    if ! command -v npm >/dev/null 2>&1; then
        local sudo=""
        if [ "$(id -u)" != "0" ]; then
            sudo="sudo"
        fi
        $sudo apt-get update
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends nodejs npm
    fi
}

autotel_install_grafana_schema() {
    local dir="${autotel_peers_root}/target/peers/grafana"
    if [ -f "${dir}/node_modules/@grafana/schema/package.json" ] \
        && [ -f "${dir}/node_modules/typescript/bin/tsc" ]; then
        return 0
    fi
    autotel_ensure_npm
    mkdir -p "${dir}"
    npm install --prefix "${dir}" --no-audit --no-fund --loglevel=error \
        '@grafana/schema@13.2.3' 'typescript@7.0.2'
}

autotel_install_statsd() {
    local dir="${autotel_peers_root}/target/peers/statsd"
    if [ -f "${dir}/node_modules/statsd/stats.js" ]; then
        return 0
    fi
    autotel_ensure_npm
    mkdir -p "${dir}"
    npm install --prefix "${dir}" --no-audit --no-fund --loglevel=error 'statsd@0.9.0'
}

autotel_install_victoria_metrics() {
    if dpkg -s victoria-metrics >/dev/null 2>&1; then
        return 0
    fi
    local sudo=""
    if [ "$(id -u)" != "0" ]; then
        sudo="sudo"
    fi
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends victoria-metrics
}

autotel_install_prometheus
autotel_install_victoria_metrics
autotel_install_test_agent
autotel_install_harness_python
autotel_install_grafana_schema
autotel_install_statsd

AUTOTEL_PROMETHEUS_BIN="$(command -v prometheus)"
AUTOTEL_PROMTOOL_BIN="$(command -v promtool)"
AUTOTEL_TEST_AGENT_BIN="${autotel_peers_root}/target/peers/venv/bin/ddapm-test-agent"
AUTOTEL_PYTHON_BIN="${autotel_peers_root}/target/peers/venv/bin/python3"
AUTOTEL_GRAFANA_SCHEMA_DIR="${autotel_peers_root}/target/peers/grafana"
AUTOTEL_STATSD_DIR="${autotel_peers_root}/target/peers/statsd"
AUTOTEL_NODE_BIN="$(command -v node || command -v nodejs)"
AUTOTEL_VICTORIA_METRICS_BIN="$(dpkg -L victoria-metrics | grep -E '/bin/victoria-metrics$' | head -n 1)"
export AUTOTEL_PROMETHEUS_BIN AUTOTEL_PROMTOOL_BIN AUTOTEL_TEST_AGENT_BIN AUTOTEL_PYTHON_BIN
export AUTOTEL_GRAFANA_SCHEMA_DIR
export AUTOTEL_STATSD_DIR AUTOTEL_NODE_BIN AUTOTEL_VICTORIA_METRICS_BIN
echo "prometheus: ${AUTOTEL_PROMETHEUS_BIN}"
echo "promtool:   ${AUTOTEL_PROMTOOL_BIN}"
echo "test agent: ${AUTOTEL_TEST_AGENT_BIN}"
echo "python:     ${AUTOTEL_PYTHON_BIN}"
echo "grafana:    ${AUTOTEL_GRAFANA_SCHEMA_DIR}"
echo "statsd:     ${AUTOTEL_STATSD_DIR}"
echo "victoria:   ${AUTOTEL_VICTORIA_METRICS_BIN}"
