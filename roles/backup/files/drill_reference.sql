-- DR drill reference point (ultraai.platform.backup, tasks/drill_reference.yml).
-- psql -v drill=<id>: one canary row, written while SHARE locks on every table
-- of the public schema hold back other writers, so the row counts read here are
-- exactly what a restore to this transaction id shows. Prints one JSON line.
-- The drill reads the restored copy with the same function, which the restore
-- brings along.
\set ON_ERROR_STOP on
CREATE TABLE IF NOT EXISTS public.ultraai_dr_canary (
    id bigserial PRIMARY KEY,
    drill text NOT NULL,
    written_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE OR REPLACE FUNCTION public.ultraai_dr_state() RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'canary_rows', (SELECT count(*) FROM public.ultraai_dr_canary),
        'canary_md5', (SELECT md5(string_agg(id || '|' || drill || '|' || written_at, ',' ORDER BY id))
                       FROM public.ultraai_dr_canary),
        'counts', (SELECT json_object_agg(tablename, (xpath('/row/c/text()', query_to_xml(
                              format('SELECT count(*) AS c FROM public.%I', tablename), false, true, '')))[1]::text::bigint
                          ORDER BY tablename)
                   FROM pg_tables WHERE schemaname = 'public'))
$$;
REVOKE ALL ON FUNCTION public.ultraai_dr_state() FROM PUBLIC;
-- One row per drill; a quarter of history is plenty.
DELETE FROM public.ultraai_dr_canary WHERE written_at < now() - interval '90 days';
BEGIN;
SET LOCAL lock_timeout = '10s';
DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT format('public.%I', tablename)::regclass FROM pg_tables WHERE schemaname = 'public' LOOP
        EXECUTE format('LOCK TABLE %s IN SHARE MODE', t);
    END LOOP;
END
$$;
INSERT INTO public.ultraai_dr_canary (drill) VALUES (:'drill');
SELECT json_build_object(
    'xid', txid_current()::text,
    'epoch', extract(epoch FROM clock_timestamp()),
    'archived_epoch', coalesce(extract(epoch FROM (SELECT last_archived_time FROM pg_stat_archiver)), 0),
    'state', public.ultraai_dr_state());
COMMIT;
