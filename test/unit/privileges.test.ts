import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { runAsFor } from '../../src/privileges.js';
import { builtinScanners } from '../../src/scan/builtin.js';

const notRoot = process.getuid!() === 0 ? false : 'needs root: only root switches to user';

describe('user and group', () => {
  test('started as root, user: nobody is looked up and switched to, with its own group', { skip: notRoot }, () => {
    assert.deepEqual(runAsFor({ user: 'nobody' }), { uid: 65534, gid: 65534, name: 'nobody (uid 65534)', serviceUser: false, switching: true });
  });

  test('group replaces the user\'s own group', { skip: notRoot }, () => {
    assert.equal(runAsFor({ user: 'nobody', group: 'daemon' }).gid, 1);
  });

  test('without user, the proxy stays whoever started it', () => {
    assert.deepEqual(runAsFor({}), { uid: process.getuid!(), gid: process.getgid!(), name: `uid ${process.getuid!()}`, serviceUser: false, switching: false });
  });

  test('a user or group not on the system is a ConfigError naming the key', () => {
    assert.throws(() => runAsFor({ user: 'no-such-user-here' }), { code: 'SSP_ERR_CONFIG', message: 'user: no user "no-such-user-here" on this system' });
    assert.throws(() => runAsFor({ user: 'nobody', group: 'no-such-group-here' }), { code: 'SSP_ERR_CONFIG', message: 'group: no group "no-such-group-here" on this system' });
  });

  test('the config refuses a group without a user, and names that are options or paths', () => {
    assert.throws(() => parseConfig({ group: 'nogroup' }, builtinScanners), /group: needs user as well/);
    assert.throws(() => parseConfig({ user: '-s' }, builtinScanners), /user: a user or group name, or a number/);
    assert.throws(() => parseConfig({ user: '../x' }, builtinScanners), /user: a user or group name, or a number/);
    assert.equal(parseConfig({ user: 'smtp-scan-proxy', group: 'mail' }, builtinScanners).user, 'smtp-scan-proxy');
  });
});
