// Package schemas embeds the JSON Schemas (draft 2020-12) of the profile
// event envelope and of both profile kinds, as published in
// shared/CONTRACTS.md §1–2. Source systems can validate against the same
// files the service uses.
package schemas

import "embed"

// FS holds envelope.schema.json, resident.schema.json and
// enterprise.schema.json.
//
//go:embed *.schema.json
var FS embed.FS

// The file names inside FS.
const (
	Envelope   = "envelope.schema.json"
	Resident   = "resident.schema.json"
	Enterprise = "enterprise.schema.json"
)

// FieldsZH is fields.zh.yaml: the Chinese label, help text and choices of
// each profile field, from which the public self-check builds its form.
//
//go:embed fields.zh.yaml
var FieldsZH []byte
