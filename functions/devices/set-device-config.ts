/**
 * PUT /devices/{id}/config: set a device's desired configuration as its next version. `If-Match: "3"` makes
 * the change conditional on version 3 still being current (412 otherwise); the answer carries `ETag: "<version>"`.
 */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { Problem } from '../../shared/problem.ts';
import { DesiredConfig, setDesiredConfig, versionTag, versionsOfTags } from './model/device-config.ts';

export default defineHttpFunction({
  name: 'setDeviceConfig',
  domain: 'devices',
  method: 'PUT',
  path: '/devices/{id}/config',
  auth: 'user',
  summary: "Set a device's desired configuration (versioned, optionally conditional with If-Match)",
  description: 'The configuration is a JSON object of at most 64 KiB, 32 levels deep, without NUL characters (413 when larger).',
  params: z.object({ id: z.uuid() }),
  // Bounds are checked by the model, so a document over the size limit is a 413 rather than a 400.
  body: z.object({ config: z.record(z.string(), z.unknown()).describe('A JSON object, at most 64 KiB, 32 levels deep, no NUL characters') }),
  responses: { 200: DesiredConfig.extend({ updatedAt: z.iso.datetime() }) },
  problems: ['not-found', 'precondition-failed'],
  async handler({ params, body, user, request, deps }) {
    const ifMatch = versionsOfTags(request.headers['if-match'], 'if-match');
    if (Array.isArray(ifMatch) && ifMatch.length > 1) {
      throw new Problem('validation', 'If-Match names one configuration version', { errors: [{ path: 'headers.if-match', message: 'expected one version' }] });
    }
    const saved = await setDesiredConfig(deps, user, params.id, body.config, Array.isArray(ifMatch) ? ifMatch[0] : undefined);
    return { status: 200, headers: { etag: versionTag(saved.version) }, body: saved };
  },
});
