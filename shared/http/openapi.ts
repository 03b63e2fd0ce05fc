/**
 * The OpenAPI 3.1 document, built from the registry: every route with its parameters, body, responses,
 * problem responses and security. JSON Schemas come from zod itself (`z.toJSONSchema`), so the document
 * cannot drift from what the harness enforces.
 */
import { z } from 'zod';
import { OpenApiBuilder, type OpenAPIObject, type OperationObject, type ParameterObject, type SchemaObject } from 'openapi3-ts/oas31';
import type { HttpFunction } from '../function.ts';
import { problemContentType, problemKinds, problemTypeUri, type ProblemKind } from '../problem.ts';

const problemSchema: SchemaObject = {
  type: 'object',
  required: ['type', 'title', 'status', 'detail'],
  properties: {
    type: { type: 'string', description: 'Stable identifier of the kind of problem', examples: [problemTypeUri('validation')] },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    errors: {
      type: 'array',
      description: 'For validation problems: each offending field',
      items: { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string' }, message: { type: 'string' } } },
    },
  },
};

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): SchemaObject {
  // zod's JSON Schema is draft 2020-12, which is what OpenAPI 3.1 uses; `$schema` is dropped as redundant.
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest as SchemaObject;
}

function parameters(fn: HttpFunction): ParameterObject[] {
  const out: ParameterObject[] = [];
  for (const [where, schema] of [['path', fn.params], ['query', fn.query]] as const) {
    if (!schema) continue;
    const object = jsonSchema(schema, 'input');
    const required = new Set((object.required as string[] | undefined) ?? []);
    for (const [name, property] of Object.entries(object.properties ?? {})) {
      const prop = property as SchemaObject;
      out.push({ name, in: where, required: where === 'path' || required.has(name), schema: prop, ...(prop.description ? { description: prop.description } : {}) });
    }
  }
  return out;
}

function problemsOf(fn: HttpFunction): ProblemKind[] {
  const kinds = new Set<ProblemKind>(fn.problems);
  if (fn.params || fn.query || fn.body) kinds.add('validation');
  if (fn.body) ['invalid-json', 'payload-too-large', 'unsupported-media-type'].forEach((k) => kinds.add(k as ProblemKind));
  if (fn.auth !== 'none') kinds.add('unauthenticated');
  // Refused before any function runs, on every route (shared/http/request-limits.ts), so every operation has them.
  kinds.add('uri-too-long');
  kinds.add('headers-too-large');
  kinds.add('internal');
  return [...kinds];
}

function operation(fn: HttpFunction): OperationObject {
  const responses: OperationObject['responses'] = {};
  for (const [status, schema] of Object.entries(fn.responses)) {
    responses[status] = schema
      ? { description: 'Success', content: { 'application/json': { schema: jsonSchema(schema, 'output') } } }
      : { description: 'Success, no content' };
  }
  const byStatus = new Map<number, ProblemKind[]>();
  for (const kind of problemsOf(fn)) {
    const status = problemKinds[kind].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), kind]);
  }
  for (const [status, kinds] of byStatus) {
    responses[String(status)] = {
      description: kinds.map((k) => `${problemTypeUri(k)}: ${problemKinds[k].title}`).join('; '),
      content: { [problemContentType]: { schema: { $ref: '#/components/schemas/Problem' } } },
    };
  }
  return {
    operationId: fn.name,
    summary: fn.summary,
    ...(fn.description ? { description: fn.description } : {}),
    tags: [fn.domain],
    parameters: parameters(fn),
    ...(fn.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(fn.body, 'input') } } } } : {}),
    responses,
    // A public operation says so (`security: []`) rather than leave a reader, or a linter, to guess.
    security: fn.auth === 'user' ? [{ bearerAuth: [] }] : fn.auth === 'device' ? [{ deviceToken: [] }] : [],
  };
}

export function buildOpenApi(functions: readonly HttpFunction[], info: { version: string }): OpenAPIObject {
  const builder = OpenApiBuilder.create()
    .addOpenApiVersion('3.1.0')
    .addInfo({
      title: 'iotfn',
      version: info.version,
      description: 'An IoT platform built as serverless functions: signing, devices and monitoring.',
    })
    // The platform that serves the document: clients resolve paths against where they fetched it.
    .addServer({ url: '/', description: 'this platform' })
    .addSecurityScheme('bearerAuth', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT (ES256), from POST /auth/login' })
    .addSecurityScheme('deviceToken', {
      type: 'apiKey',
      in: 'header',
      name: 'Authorization',
      description: 'Device <token>, the token answered when the device was created or its token rotated',
    })
    .addSchema('Problem', problemSchema);
  const paths: Record<string, Record<string, OperationObject>> = {};
  for (const fn of functions) {
    (paths[fn.path] ??= {})[fn.method.toLowerCase()] = operation(fn);
  }
  for (const [path, item] of Object.entries(paths)) builder.addPath(path, item);
  return builder.getSpec();
}
