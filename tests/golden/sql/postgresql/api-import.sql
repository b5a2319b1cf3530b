SELECT u.*, t.digest AS token__digest, t.token_key AS token__token_key, t.user_id AS token__user_id, t.created AS token__created, t.expiry AS token__expiry, t.name AS token__name, t.last_used_at AS token__last_used_at FROM labelling_apitoken t JOIN auth_user u ON u.id = t.user_id WHERE t.token_key = %s
UPDATE "labelling_apitoken" SET "last_used_at" = %s WHERE "labelling_apitoken"."digest" = %s
SELECT p.*, m.role AS member_role FROM labelling_project p LEFT JOIN labelling_membership m ON m.project_id = p.id AND m.user_id = %s WHERE p.id = %s
SAVEPOINT "savepoint"
SELECT "labelling_project"."id", "labelling_project"."name", "labelling_project"."description", "labelling_project"."responses_per_prompt", "labelling_project"."annotations_per_prompt", "labelling_project"."allow_ties", "labelling_project"."criteria", "labelling_project"."required_critiques", "labelling_project"."gold_rate", "labelling_project"."guideline_version", "labelling_project"."lease_minutes", "labelling_project"."gold_threshold", "labelling_project"."min_median_seconds", "labelling_project"."consensus_threshold", "labelling_project"."review_below", "labelling_project"."reward_model", "labelling_project"."queue_order", "labelling_project"."pseudonym_key", "labelling_project"."created_at", "labelling_project"."created_by_id" FROM "labelling_project" WHERE "labelling_project"."id" = %s LIMIT 21 FOR NO KEY UPDATE
SELECT %s AS "a" FROM "labelling_prompt" WHERE "labelling_prompt"."project_id" = %s LIMIT 1
SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)
INSERT INTO "labelling_auditevent" ("project_id", "actor_id", "verb", "object_type", "object_id", "data", "created_at") VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING "labelling_auditevent"."id"
RELEASE SAVEPOINT "savepoint"
