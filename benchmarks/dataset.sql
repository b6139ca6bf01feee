-- The benchmark's dataset, generated set-based inside PostgreSQL (no rows cross the wire).
--
-- Parameters are session settings, so the file also runs as is in psql:
--   SET bench.doctors = 200; SET bench.patients = 20000; SET bench.appointments = 1000000;
--   SET bench.per_patient = 50; SET bench.origin = '2025-11-24T00:00:00Z';
--   SET bench.password_hash = '$2b$12$...';
--
-- Every doctor gets appointments.count / doctors slots of 30 minutes: ten a day (08:00-17:00
-- UTC, on the hour), Monday to Friday, from bench.origin on; 5,000 slots span two years.
-- At slot i the doctors see patients  doctors * (i mod G) + (d + i) mod doctors  with
-- G = slots / per_patient: within one slot that is a permutation, so no patient is in two
-- places at once, and each of the doctors * G patients with appointments has per_patient
-- of them with changing doctors. Neither exclusion constraint can fire, by construction.
-- Ids are md5-derived so that a run can name users without looking them up.

-- Every address verified (as if the verification mail was answered): patients book.
INSERT INTO users (id, email, password_hash, full_name, role, specialty, email_verified_at)
SELECT md5('doctor-' || n)::uuid,
       'doctor' || n || '@bench.medai.test',
       current_setting('bench.password_hash'),
       'Doctor ' || n,
       'doctor',
       (ARRAY['cardiology', 'oncology', 'radiology', 'general practice'])[1 + n % 4],
       now()
FROM generate_series(0, current_setting('bench.doctors')::int - 1) AS n;

-- Every doctor works around the clock, two years ahead, no notice (domain.scheduling): the
-- create scenario books consecutive half hours after the data, at any hour.
INSERT INTO doctor_availability (doctor_id, time_zone, schedule)
SELECT id, 'UTC', '{"weekly_hours": [{"day": "monday", "start": "00:00", "end": "24:00"}, {"day": "tuesday", "start": "00:00", "end": "24:00"}, {"day": "wednesday", "start": "00:00", "end": "24:00"}, {"day": "thursday", "start": "00:00", "end": "24:00"}, {"day": "friday", "start": "00:00", "end": "24:00"}, {"day": "saturday", "start": "00:00", "end": "24:00"}, {"day": "sunday", "start": "00:00", "end": "24:00"}], "days_off": [], "time_off": [], "appointment_minutes": [30], "buffer_minutes": 0, "minimum_notice_minutes": 0, "horizon_days": 730}'::jsonb FROM users WHERE role = 'doctor';

INSERT INTO users (id, email, password_hash, full_name, role, email_verified_at)
SELECT md5('patient-' || n)::uuid,
       'patient' || n || '@bench.medai.test',
       current_setting('bench.password_hash'),
       'Patient ' || n,
       'patient',
       now()
FROM generate_series(0, current_setting('bench.patients')::int - 1) AS n;

INSERT INTO users (id, email, password_hash, full_name, role, email_verified_at)
VALUES (md5('admin-0')::uuid, 'admin0@bench.medai.test',
        current_setting('bench.password_hash'), 'Admin 0', 'admin', now());

WITH shape AS (
    SELECT current_setting('bench.doctors')::int AS doctors,
           current_setting('bench.appointments')::int
               / current_setting('bench.doctors')::int AS slots,
           current_setting('bench.appointments')::int
               / current_setting('bench.doctors')::int
               / current_setting('bench.per_patient')::int AS groups,
           current_setting('bench.origin')::timestamptz AS origin
), slot AS (
    SELECT i, d, shape.doctors * (i % shape.groups) + (d + i) % shape.doctors AS patient,
           shape.origin
               + ((i / 10) / 5 * 7 + (i / 10) % 5) * interval '1 day'
               + (8 + i % 10) * interval '1 hour' AS start_at
    FROM shape,
         generate_series(0, shape.slots - 1) AS i,
         generate_series(0, shape.doctors - 1) AS d
)
INSERT INTO appointments (patient_id, doctor_id, booked_by, start_at, end_at, status, reason,
                          notes, cancellation_reason, created_at, updated_at)
SELECT md5('patient-' || patient)::uuid,
       md5('doctor-' || d)::uuid,
       md5('patient-' || patient)::uuid,
       start_at,
       start_at + interval '30 minutes',
       outcome.status,
       (ARRAY['Check-up', 'Follow-up visit', 'Persistent cough', 'Test results', NULL])
           [1 + (i + d) % 5],
       CASE WHEN outcome.status = 'fulfilled' THEN 'Seen; no further action.' END,
       CASE WHEN outcome.status = 'cancelled' THEN 'Patient unavailable.' END,
       start_at - interval '14 days',
       LEAST(start_at, now())
FROM slot,
     LATERAL (
         SELECT CASE
                    WHEN start_at >= now() THEN 'booked'
                    WHEN (i * 7 + d * 13) % 20 = 0 THEN 'cancelled'
                    WHEN (i * 7 + d * 13) % 20 = 1 THEN 'noshow'
                    ELSE 'fulfilled'
                END AS status
     ) AS outcome;
