"""PostgreSQL enforces the audit trail.

1. History is append-only: UPDATE and DELETE on records_historicalrecord are refused,
   unless the transaction has set `records_desk.history_retention` to 'on' (only
   `manage.py prune_history` does, and says so in its log).

2. Changes to records made outside the app are recorded. The app's services set
   `records_desk.audited` to 'on' for their transaction (records/services/audit.py) and
   write their own history rows, with user, reason and channel. Any other write (psql, a
   `save()` in a shell) fires these triggers, which bump the record's version and write
   a history row marked as a direct database change by the database role that made it.
   The WHEN clause keeps the triggers off the import's million-row statements.
"""

from django.db import migrations

NOT_AUDITED = "coalesce(current_setting('records_desk.audited', true), '') <> 'on'"

SQL = f"""
CREATE FUNCTION records_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('records_desk.history_retention', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'records_historicalrecord is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'History is never changed; use manage.py prune_history for retention.';
END $$;

CREATE TRIGGER records_history_append_only
    BEFORE UPDATE OR DELETE ON records_historicalrecord
    FOR EACH STATEMENT EXECUTE FUNCTION records_history_append_only();

CREATE FUNCTION records_record_direct_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (to_jsonb(NEW) - 'version' - 'updated_at')
       IS DISTINCT FROM (to_jsonb(OLD) - 'version' - 'updated_at') THEN
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER records_record_direct_version
    BEFORE UPDATE ON records_record
    FOR EACH ROW WHEN ({NOT_AUDITED})
    EXECUTE FUNCTION records_record_direct_version();

CREATE FUNCTION records_record_direct_history() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_row jsonb := CASE WHEN TG_OP = 'INSERT' THEN '{{}}'::jsonb ELSE to_jsonb(OLD) END;
    new_row jsonb := CASE WHEN TG_OP = 'DELETE' THEN '{{}}'::jsonb ELSE to_jsonb(NEW) END;
    snapshot jsonb := CASE WHEN TG_OP = 'DELETE' THEN to_jsonb(OLD) ELSE to_jsonb(NEW) END;
    diff jsonb;
BEGIN
    -- The same diff the app writes: {{field: [old, new]}} as text ('' for empty), extra
    -- keys one by one.
    SELECT coalesce(jsonb_object_agg(d.key, jsonb_build_array(d.old_value, d.new_value)), '{{}}')
      INTO diff
      FROM (
        SELECT k AS key,
               coalesce(old_row -> k #>> '{{}}', '') AS old_value,
               coalesce(new_row -> k #>> '{{}}', '') AS new_value
          FROM jsonb_object_keys(old_row || new_row) AS k
         WHERE k NOT IN ('id', 'organisation_id', 'version', 'created_at', 'updated_at',
                         'amendments', 'extra')
        UNION ALL
        SELECT 'extra.' || k,
               coalesce(old_row -> 'extra' -> k #>> '{{}}', ''),
               coalesce(new_row -> 'extra' -> k #>> '{{}}', '')
          FROM jsonb_object_keys(coalesce(old_row -> 'extra', '{{}}') || coalesce(new_row -> 'extra', '{{}}')) AS k
      ) AS d
     WHERE d.old_value <> d.new_value;

    IF TG_OP = 'UPDATE' AND diff = '{{}}' THEN
        RETURN NULL;
    END IF;

    -- In FROM, not `SELECT (f()).*`, which would call nextval() once per column.
    INSERT INTO records_historicalrecord
    SELECT * FROM jsonb_populate_record(NULL::records_historicalrecord, snapshot || jsonb_build_object(
        'history_id', nextval(pg_get_serial_sequence('records_historicalrecord', 'history_id')),
        'history_date', now(),
        'history_type', CASE TG_OP WHEN 'INSERT' THEN '+' WHEN 'UPDATE' THEN '~' ELSE '-' END,
        'history_change_reason', NULL,
        'history_user_id', NULL,
        'channel', 'db',
        'changeset_id', NULL,
        'changes', diff,
        -- Only updates list their fields: see records/services/audit.py.
        'changed_fields', CASE WHEN TG_OP = 'UPDATE'
                          THEN to_jsonb(ARRAY(SELECT jsonb_object_keys(diff) ORDER BY 1))
                          ELSE '[]'::jsonb END,
        'db_user', session_user
    ));
    RETURN NULL;
END $$;

CREATE TRIGGER records_record_direct_history
    AFTER INSERT OR UPDATE OR DELETE ON records_record
    FOR EACH ROW WHEN ({NOT_AUDITED})
    EXECUTE FUNCTION records_record_direct_history();
"""

REVERSE_SQL = """
DROP TRIGGER records_record_direct_history ON records_record;
DROP FUNCTION records_record_direct_history();
DROP TRIGGER records_record_direct_version ON records_record;
DROP FUNCTION records_record_direct_version();
DROP TRIGGER records_history_append_only ON records_historicalrecord;
DROP FUNCTION records_history_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("records", "0001_initial")]

    operations = [migrations.RunSQL(SQL, REVERSE_SQL)]
