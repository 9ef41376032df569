-- +goose Up
-- A match's explanation was 3–4 KB of JSON, most of it its policy's
-- condition names and expressions, repeated in every match of the policy.
-- Now a match stores only its own part, a compact record of verdicts and
-- values read (explanation_values), and names the form it shares with the
-- other matches of its policy version (explanation_form, the digest of
-- explanation_forms.form); the store renders the two as the old JSON when
-- an explanation is read. Rows written before keep their explanation.
CREATE TABLE explanation_forms (
    digest bytea PRIMARY KEY,
    form   json  NOT NULL
);
ALTER TABLE explanation_forms ALTER COLUMN form SET COMPRESSION lz4;

ALTER TABLE matches ALTER COLUMN explanation DROP NOT NULL;
ALTER TABLE matches ADD COLUMN explanation_form bytea;
ALTER TABLE matches ADD COLUMN explanation_values bytea;
-- NOT VALID: the rows already there all have an explanation, and a big
-- table is not scanned to prove it.
ALTER TABLE matches ADD CONSTRAINT matches_explained
    CHECK (explanation IS NOT NULL OR (explanation_form IS NOT NULL AND explanation_values IS NOT NULL)) NOT VALID;

-- +goose Down
-- Compact rows have no JSON to go back to; they keep an empty object.
UPDATE matches SET explanation = '{}' WHERE explanation IS NULL;
ALTER TABLE matches DROP CONSTRAINT matches_explained;
ALTER TABLE matches DROP COLUMN explanation_values;
ALTER TABLE matches DROP COLUMN explanation_form;
ALTER TABLE matches ALTER COLUMN explanation SET NOT NULL;
DROP TABLE explanation_forms;
