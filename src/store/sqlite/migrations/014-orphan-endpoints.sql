-- An endpoint created while its application was being deleted could outlive it, with its secrets and
-- headers: the create now checks the application as part of its write. Those left before go now.
DELETE FROM endpoints WHERE NOT EXISTS (SELECT 1 FROM apps WHERE apps.id = endpoints.app_id);
