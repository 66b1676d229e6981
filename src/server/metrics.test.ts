import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createMetrics, requestMetrics } from './metrics';

it('counts and times requests by method, route and status', async () => {
  const m = createMetrics();
  const record = requestMetrics(m);
  record('POST', '/v1/bots/renew', 200, 0.002);
  record('POST', '/v1/bots/renew', 200, 0.02);
  record('POST', '/v1/bots/renew', 403, 0.001);
  record('GET', 'unmatched', 404, 0.0005);
  const text = await m.registry.metrics();
  assert.match(text, /tapgate_http_requests_total\{method="POST",route="\/v1\/bots\/renew",status="200"\} 2/);
  assert.match(text, /tapgate_http_requests_total\{method="POST",route="\/v1\/bots\/renew",status="403"\} 1/);
  assert.match(text, /tapgate_http_requests_total\{method="GET",route="unmatched",status="404"\} 1/);
  assert.match(text, /tapgate_http_request_seconds_count\{method="POST",route="\/v1\/bots\/renew"\} 3/);
  assert.match(text, /tapgate_http_request_seconds_bucket\{le="0.005",method="POST",route="\/v1\/bots\/renew"\} 2/);
});
