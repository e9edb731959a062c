// A backend for Etsy statsd that appends what each flush holds to a file,
// as one JSON object per line: the counters, gauges and timers statsd
// aggregated, and the timer counts (each value weighed by 1 / sample rate).
// The file is named by the `jsonLines.path` setting of the statsd config.
'use strict';

const fs = require('fs');

exports.init = function (startupTime, config, events) {
  const path = config.jsonLines && config.jsonLines.path;
  if (!path) {
    return false;
  }
  events.on('flush', function (timestamp, metrics) {
    const timerCounts = {};
    for (const key of Object.keys(metrics.timer_data || {})) {
      timerCounts[key] = metrics.timer_data[key].count;
    }
    const line = JSON.stringify({
      timestamp: timestamp,
      counters: metrics.counters,
      gauges: metrics.gauges,
      timers: metrics.timers,
      timer_counts: timerCounts,
    });
    fs.appendFileSync(path, line + '\n');
  });
  return true;
};
