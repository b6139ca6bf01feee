"""What the wrk scripts send: access tokens for sampled users and the requests' targets,
written as tab-separated data files.

Tokens are minted with the service's own ``TokenService`` and secret, each for a session row
inserted here, exactly what a sign-in leaves behind; signing in a few hundred users over HTTP
would spend a minute of bcrypt for nothing the scenarios measure (the login scenario does).
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from adapters.tokens import TokenService
from benchmarks.dataset import PASSWORD, Dataset
from domain.model import Role

SAMPLE_SEED = 20261126
ISSUER, AUDIENCE = "medai-backend", "medai-api"  # the settings' defaults, as the service runs
WEEK = timedelta(weeks=1)
# The free-slot search's specialty: the dataset's doctors 0-19, and no others (dataset.sql
# spreads its doctors over four other specialties).
SLOTS_SPECIALTY, SLOTS_SPECIALTY_DOCTORS = "neurology", 20


def _uuid(kind: str, n: int) -> str:
    """The dataset's md5-derived ids (see dataset.sql)."""
    import hashlib

    return str(uuid.UUID(hashlib.md5(f"{kind}-{n}".encode()).hexdigest()))  # noqa: S324


class Fixtures:
    def __init__(self, dataset: Dataset, secret: str, folder: Path) -> None:
        self.dataset = dataset
        self.folder = folder
        self.tokens = TokenService(secret=secret, issuer=ISSUER, audience=AUDIENCE, ttl_seconds=900)
        self.random = random.Random(SAMPLE_SEED)
        self._updated: list[tuple[str, str]] = []
        folder.mkdir(parents=True, exist_ok=True)

    def _mint(
        self, conn: psycopg.Connection[tuple[object, ...]], ids: list[str], role: Role
    ) -> list[str]:
        sessions = [uuid.uuid4() for _ in ids]
        expires = datetime.now(UTC) + timedelta(days=1)
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO sessions (id, user_id, expires_at) VALUES (%s, %s, %s)",
                [(s, i, expires) for s, i in zip(sessions, ids, strict=True)],
            )
        return [
            self.tokens.issue_access(uuid.UUID(i), role, 0, s)
            for i, s in zip(ids, sessions, strict=True)
        ]

    def _write(self, name: str, rows: list[tuple[str, ...]]) -> str:
        path = self.folder / f"{self.dataset.shape.name}-{name}.tsv"
        path.write_text("".join("\t".join(row) + "\n" for row in rows))
        return str(path)

    def _patients(self, count: int) -> list[str]:
        population = range(self.dataset.shape.patients_with_appointments)
        picked = self.random.sample(population, min(count, len(population)))
        return [_uuid("patient", n) for n in picked]

    def _doctors(self, count: int) -> list[str]:
        return [
            _uuid("doctor", n) for n in self.random.sample(range(self.dataset.shape.doctors), count)
        ]

    def write_all(self) -> dict[str, str]:
        """Every scenario's data file, by scenario name."""
        files: dict[str, str] = {}
        with psycopg.connect(self.dataset.url) as conn:
            patients = self._patients(256)
            patient_tokens = self._mint(conn, patients, Role.PATIENT)
            files["patient_list"] = self._write(
                "patient_list", [(t, "/appointments") for t in patient_tokens]
            )
            files["get_by_id"] = self._write(
                "get_by_id", self._own_appointments(conn, patients, patient_tokens)
            )
            doctors = self._doctors(64)
            doctor_tokens = self._mint(conn, doctors, Role.DOCTOR)
            files["doctor_week"] = self._write("doctor_week", self._weeks(doctor_tokens))
            self._updated = self._doctor_appointments(conn, doctors, doctor_tokens)
            k = self.dataset.shape.doctors
            bookers = [_uuid("patient", n) for n in range(k)]
            files["create"] = self._write(
                "create",
                list(
                    zip(
                        self._mint(conn, bookers, Role.PATIENT),
                        [_uuid("doctor", n) for n in range(k)],
                        strict=True,
                    )
                ),
            )
            conn.commit()
        files["login"] = self._write(
            "login",
            [
                (f"patient{n}@bench.medai.test",)
                for n in self.random.sample(range(self.dataset.shape.patients), 64)
            ],
        )
        files["liveness"] = self._write("liveness", [("-", "/health/live")])
        files.update(self.write_slots())
        return files

    def write_slots(self, count: int = 1024) -> dict[str, str]:
        """The free-slot searches of a patient: one doctor's next weeks (one of 64 doctors,
        one of the next eight weeks from Monday) and a specialty's next five weekdays. Gives
        the dataset's doctors 0-19 the specialty ``SLOTS_SPECIALTY`` (idempotent)."""
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        monday = today + timedelta(days=7 - today.weekday())
        step = max(1, self.dataset.shape.doctors // 64)
        doctors = [_uuid("doctor", n) for n in range(0, self.dataset.shape.doctors, step)]

        def at(moment: datetime) -> str:
            return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

        with psycopg.connect(self.dataset.url) as conn:
            conn.execute(
                "UPDATE users SET specialty = %s WHERE id = ANY(%s) AND specialty <> %s",
                (
                    SLOTS_SPECIALTY,
                    [uuid.UUID(_uuid("doctor", n)) for n in range(SLOTS_SPECIALTY_DOCTORS)],
                    SLOTS_SPECIALTY,
                ),
            )
            tokens = self._mint(conn, self._patients(64), Role.PATIENT)
            conn.commit()
        week: list[tuple[str, ...]] = []
        day: list[tuple[str, ...]] = []
        for n in range(count):
            start = monday + timedelta(weeks=n % 8)
            doctor = doctors[n % len(doctors)]
            week.append(
                (
                    tokens[n % len(tokens)],
                    f"/doctors/{doctor}/slots?from={at(start)}&to={at(start + WEEK)}",
                )
            )
            start = monday + timedelta(days=n % 5)
            day.append(
                (
                    tokens[n % len(tokens)],
                    f"/slots?specialty={SLOTS_SPECIALTY}&from={at(start)}"
                    f"&to={at(start + timedelta(days=1))}",
                )
            )
        return {
            "doctor_slots_week": self._write("doctor_slots_week", week),
            "specialty_slots_day": self._write("specialty_slots_day", day),
        }

    def write_busy_doctor(self, patients: int = 200) -> str:
        """(patient token, doctor id) rows: many patients, all with the dataset's doctor 0."""
        bookers = [_uuid("patient", n) for n in range(patients)]
        with psycopg.connect(self.dataset.url) as conn:
            tokens = self._mint(conn, bookers, Role.PATIENT)
            conn.commit()
        return self._write("busy_doctor", [(token, _uuid("doctor", 0)) for token in tokens])

    def write_update(self) -> str:
        """The update scenario's appointments with their current versions."""
        token_of = {ident: token for token, ident in self._updated}
        with psycopg.connect(self.dataset.url) as conn:
            rows = conn.execute(
                "SELECT id::text, version FROM appointments WHERE id = ANY(%s::uuid[])",
                (list(token_of),),
            ).fetchall()
        return self._write("update", [(token_of[i], i, str(v)) for i, v in rows])

    def _own_appointments(
        self, conn: psycopg.Connection[tuple[object, ...]], patients: list[str], tokens: list[str]
    ) -> list[tuple[str, ...]]:
        rows = conn.execute(
            "SELECT patient_id::text, id::text FROM appointments "
            "WHERE patient_id = ANY(%s::uuid[])",
            (patients,),
        ).fetchall()
        token_of = dict(zip(patients, tokens, strict=True))
        picked = self.random.sample(rows, min(1024, len(rows)))
        return [(token_of[str(p)], f"/appointments/{i}") for p, i in picked]

    def _doctor_appointments(
        self, conn: psycopg.Connection[tuple[object, ...]], doctors: list[str], tokens: list[str]
    ) -> list[tuple[str, str]]:
        """Appointments of these doctors at random, eight per doctor on average (a doctor may
        write notes on any of their appointments, past or to come)."""
        rows = conn.execute(
            "SELECT doctor_id::text, id::text FROM appointments "
            "WHERE doctor_id = ANY(%s::uuid[]) AND deleted_at IS NULL "
            "ORDER BY random() LIMIT %s",
            (doctors, 8 * len(doctors)),
        ).fetchall()
        token_of = dict(zip(doctors, tokens, strict=True))
        return [(token_of[str(d)], str(i)) for d, i in rows]

    def _weeks(self, tokens: list[str]) -> list[tuple[str, ...]]:
        """A random week of the dataset per line: the calendar view asks for all of it."""
        rows: list[tuple[str, ...]] = []
        for _ in range(1024):
            week = self.dataset.origin + WEEK * self.random.randrange(self.dataset.shape.weeks)
            start, end = (moment.strftime("%Y-%m-%dT%H:%M:%SZ") for moment in (week, week + WEEK))
            rows.append(
                (self.random.choice(tokens), f"/appointments?from={start}&to={end}&limit=100")
            )
        return rows

    @property
    def password(self) -> str:
        return PASSWORD
