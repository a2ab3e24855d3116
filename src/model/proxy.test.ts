import assert from 'node:assert/strict';
import { test } from 'node:test';
import { proxyFor } from './proxy.js';

const URL_HTTPS = 'https://download.pytorch.org/models/resnet18-f37072fd.pth';

test('the proxy variable of the URL\'s scheme, lower case first, as curl reads them', () => {
  assert.equal(proxyFor(URL_HTTPS, {}), null);
  assert.deepEqual(proxyFor(URL_HTTPS, { HTTPS_PROXY: 'http://proxy:3128' }), { proxy: 'http://proxy:3128', variable: 'HTTPS_PROXY' });
  assert.deepEqual(proxyFor(URL_HTTPS, { https_proxy: 'http://a:1', HTTPS_PROXY: 'http://b:2' }), { proxy: 'http://a:1', variable: 'https_proxy' });
  assert.equal(proxyFor(URL_HTTPS, { HTTP_PROXY: 'http://proxy:3128' }), null, 'an http proxy is not used for https');
  assert.deepEqual(proxyFor('http://mirror.lan/m.pth', { HTTP_PROXY: 'proxy:3128' }), { proxy: 'http://proxy:3128', variable: 'HTTP_PROXY' });
});

test('NO_PROXY: names, domain suffixes, ports and *', () => {
  const env = (noProxy: string) => ({ HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: noProxy });
  for (const entry of ['download.pytorch.org', 'pytorch.org', '.pytorch.org', '*.pytorch.org', 'localhost, pytorch.org', 'pytorch.org:443', '*', 'DOWNLOAD.PyTorch.org']) assert.equal(proxyFor(URL_HTTPS, env(entry)), null, entry);
  for (const entry of ['torch.org', 'other.org', 'pytorch.org:8443', 'load.pytorch.org', '']) assert.ok(proxyFor(URL_HTTPS, env(entry)), entry);
  assert.equal(proxyFor('http://[::1]:8000/m.pth', { HTTP_PROXY: 'http://p:1', no_proxy: '::1' }), null);
});
