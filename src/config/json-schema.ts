// The JSON Schema shipped for editors (schema/ml-promote.schema.json), generated from the zod
// schema so that the two cannot drift.
import { writeFile } from 'node:fs/promises'
import { z } from 'zod'
import { configSchema, trainOverride, trainSpec } from './schema.js'

export const SCHEMA_ID = 'https://github.com/ml-promote/ml-promote/schema/ml-promote.schema.json'

type JsonSchema = Record<string, unknown>

const options = { target: 'draft-2020-12', io: 'input' } as const

export function jsonSchema(): JsonSchema {
  const overrideProperties = mergedTrainProperties()
  const generated = z.toJSONSchema(configSchema, {
    ...options,
    override: (ctx) => {
      // The loader validates an override only once it is merged with the default train spec;
      // editors still deserve completion for the fields an override may set.
      if (ctx.zodSchema !== trainOverride) return
      for (const key of Object.keys(ctx.jsonSchema)) delete ctx.jsonSchema[key]
      Object.assign(ctx.jsonSchema, {
        type: 'object',
        description: trainOverride.description,
        properties: overrideProperties,
        additionalProperties: false
      })
    }
  }) as JsonSchema
  const { $schema, ...rest } = generated
  return {
    $schema,
    $id: SCHEMA_ID,
    title: 'ml-promote config',
    ...rest
  }
}

/** The schema as committed: two-space JSON and a final newline. */
export function renderJsonSchema(): string {
  return `${JSON.stringify(jsonSchema(), null, 2)}\n`
}

export async function writeJsonSchema(path: string): Promise<void> {
  await writeFile(path, renderJsonSchema())
}

/**
 * Every field of every backend, once. A field several backends share keeps one schema when they
 * agree and becomes an anyOf when they do not; defaults are dropped because an override only
 * holds what differs from the default train spec.
 */
function mergedTrainProperties(): Record<string, JsonSchema> {
  const union = z.toJSONSchema(trainSpec, options) as { oneOf?: JsonSchema[]; anyOf?: JsonSchema[] }
  const variants = new Map<string, { backend: string; schema: JsonSchema }[]>()
  for (const option of union.oneOf ?? union.anyOf ?? []) {
    const properties = option.properties as Record<string, JsonSchema>
    const backend = String(properties.backend?.const)
    for (const [field, schema] of Object.entries(properties)) {
      const list = variants.get(field) ?? []
      list.push({ backend, schema })
      variants.set(field, list)
    }
  }

  const merged: Record<string, JsonSchema> = {}
  for (const [field, list] of variants) {
    if (list.every((v) => v.schema.const !== undefined)) {
      merged[field] = { type: 'string', enum: list.map((v) => v.schema.const) }
      continue
    }
    const shapes = new Map<string, JsonSchema>()
    const descriptions: string[] = []
    for (const { backend, schema } of list) {
      const shape = { ...schema }
      delete shape.description
      delete shape.default
      shapes.set(JSON.stringify(shape), shape)
      if (typeof schema.description === 'string') {
        descriptions.push(`${backend}: ${schema.description}`)
      }
    }
    const distinct = [...shapes.values()]
    const description = list.length === 1 ? list[0]?.schema.description : descriptions.join(' ')
    merged[field] = {
      ...(distinct.length === 1 ? distinct[0] : { anyOf: distinct }),
      ...(description === undefined ? {} : { description })
    }
  }
  return merged
}
