/**
 * GET /device/config: a device reads its desired configuration, `ETag: "<version>"`. With `If-None-Match` of
 * the current version it gets 304; with `?wait=N` as well it waits up to N seconds (30 at most) for a newer
 * version, then answers 200 with it, or 304 when none came. `?version=` stands in for `If-None-Match`.
 */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { warmForDevices } from '../../shared/deploy-policy.ts';
import { firstHeader } from '../../shared/http/harness.ts';
import { authenticateDevice, parseDeviceAuthorization } from './model/device-auth.ts';
import { ConfigVersion, desiredConfigOf, versionTag, versionsOfTags } from './model/device-config.ts';
import { waitForChange } from './model/device-changes.ts';

export default defineHttpFunction({
  name: 'getConfigForDevice',
  domain: 'devices',
  deploy: warmForDevices,
  method: 'GET',
  path: '/device/config',
  auth: 'device',
  summary: 'Read the desired configuration as a device (conditional, optionally long-polling)',
  query: z.object({
    wait: z.coerce.number().int().min(0).max(30).default(0).describe('Seconds to wait for a version other than the one the device has'),
    version: z.coerce.number().pipe(ConfigVersion).optional().describe('The version the device has, when it sends no If-None-Match'),
  }),
  responses: { 200: z.object({ version: z.number().int(), config: z.record(z.string(), z.unknown()) }), 304: null },
  problems: ['invalid-token', 'device-disabled'],
  async handler({ query, request, deps }) {
    const device = await authenticateDevice(deps, parseDeviceAuthorization(firstHeader(request.headers.authorization)));
    const known = versionsOfTags(request.headers['if-none-match'], 'if-none-match') ?? (query.version === undefined ? undefined : [query.version]);
    const isKnown = (version: number) => known === '*' || (known?.includes(version) ?? false);
    let desired = await desiredConfigOf(deps.db, device.id);
    if (isKnown(desired.version) && query.wait > 0) {
      const newer = await waitForChange(deps, 'config', device.id, Date.now() + query.wait * 1000, async () => {
        const current = await desiredConfigOf(deps.db, device.id);
        return isKnown(current.version) ? undefined : current;
      });
      desired = newer ?? desired;
    }
    const headers = { etag: versionTag(desired.version), 'cache-control': 'no-cache' };
    if (isKnown(desired.version)) return { status: 304, headers };
    return { status: 200, headers, body: { version: desired.version, config: desired.config } };
  },
});
