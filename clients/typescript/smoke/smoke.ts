/**
 * Smoke test of the generated client against a live server, through the client only:
 *
 *     MEDAI_BASE_URL=http://127.0.0.1:8000 MEDAI_DOCTOR_EMAIL=… MEDAI_DOCTOR_PASSWORD=… \
 *       MEDAI_MAILBOX=var/mail npm run smoke
 *
 * The doctor must exist already (sign-up only makes patients). MEDAI_MAILBOX is the folder the
 * server writes mail to when no SMTP server is configured (`MEDAI_DATA_DIR/mail`): the patient
 * verifies their address with the code mailed there. Each step asserts the typed
 * result; a failure exits non-zero with the step's name. `npm run typecheck` covers this file,
 * so a response field removed from the spec breaks the build before it breaks a run.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

import {
  type Appointment,
  type MedAIClient,
  type Problem,
  type TokenPair,
  type User,
  createMedAIClient,
  etagOf,
  unwrap,
} from "../src/index.ts";

const baseUrl = required("MEDAI_BASE_URL");
const doctorCredentials = {
  email: required("MEDAI_DOCTOR_EMAIL"),
  password: required("MEDAI_DOCTOR_PASSWORD"),
};

const mailbox = required("MEDAI_MAILBOX");

/** The code of the verification mail to `to`, once the server's outbox has written it. */
async function verificationCode(to: string): Promise<string> {
  for (let attempt = 0; attempt < 300; attempt += 1) {
    const names = await readdir(mailbox).catch(() => [] as string[]);
    for (const name of names.filter((file) => file.endsWith(".eml"))) {
      const mail = await readFile(join(mailbox, name), "utf8");
      const code = /^Subject: Confirm your email address$[\s\S]*code: (\S+)/m.exec(mail);
      if (mail.includes(`\nTo: ${to}\n`) && code?.[1]) return code[1];
    }
    await sleep(200);
  }
  throw new Error(`no verification mail to ${to} in ${mailbox}`);
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

let step = "";
function begin(name: string): void {
  step = name;
  console.log(`- ${name}`);
}

/** The error of a reply that must have failed with `status`, as the problem+json it is. */
function expectProblem(
  reply: { error?: Problem; response: Response },
  status: number,
): Problem {
  assert.equal(reply.response.status, status);
  assert.match(reply.response.headers.get("Content-Type") ?? "", /^application\/problem\+json/);
  assert.ok(reply.error, "a problem body");
  assert.equal(reply.error.status, status);
  assert.ok(reply.error.title.length > 0);
  return reply.error;
}

/** The refresh token of a reply that carries it in the body (not a cookie sign-in). */
function refreshTokenOf(pair: TokenPair): string {
  assert.ok(pair.refresh_token, "the refresh token is in the body");
  return pair.refresh_token;
}

/** A client that signs its requests with whatever token the session holds now. */
function signedIn(): { api: MedAIClient; use(pair: TokenPair): void } {
  let token: string | undefined;
  const api = createMedAIClient(baseUrl, { getAccessToken: () => token });
  return { api, use: (pair) => void (token = pair.access_token) };
}

async function main(): Promise<void> {
  const anonymous = createMedAIClient(baseUrl);
  const patient = signedIn();
  const doctor = signedIn();
  const email = `smoke-${randomUUID()}@example.org`;
  const password = "a long smoke-test passphrase";

  begin("register a patient");
  const registered = await anonymous.POST("/auth/register", {
    body: { email, password, full_name: "Smoke Patient" },
  });
  assert.equal(registered.response.status, 201);
  const created: User = await unwrap(registered);
  assert.equal(created.role, "patient");
  assert.equal(created.email, email);
  assert.equal(created.specialty, null);
  assert.equal(registered.response.headers.get("Location"), `/users/${created.id}`);

  begin("registering the same email again is a 409 problem");
  expectProblem(
    await anonymous.POST("/auth/register", {
      body: { email, password, full_name: "Smoke Patient" },
    }),
    409,
  );

  begin("a wrong password is a 401 problem");
  expectProblem(
    await anonymous.POST("/auth/login", { body: { email, password: `${password}!` } }),
    401,
  );

  begin("log in");
  const first: TokenPair = await unwrap(
    anonymous.POST("/auth/login", { body: { email, password } }),
  );
  assert.equal(first.token_type, "Bearer");
  assert.ok(first.expires_in > 0 && first.expires_in <= 900);
  assert.equal(first.user_id, created.id);
  assert.equal(first.role, "patient");

  begin("refresh the token pair");
  const second = await unwrap(
    anonymous.POST("/auth/refresh", { body: { refresh_token: refreshTokenOf(first) } }),
  );
  assert.notEqual(second.refresh_token, first.refresh_token);
  patient.use(second);

  begin("a second tab refreshing with the same token gets the same pair");
  const again = await unwrap(
    anonymous.POST("/auth/refresh", { body: { refresh_token: refreshTokenOf(first) } }),
  );
  assert.deepEqual(again, second);

  begin("read my own profile");
  const me = await unwrap(patient.api.GET("/users/me"));
  assert.equal(me.id, created.id);
  assert.equal(me.email, email);
  assert.equal(me.active, true);

  begin("signed out, the same call is a 401 problem");
  expectProblem(await anonymous.GET("/users/me"), 401);

  begin("find the doctor among the doctors");
  doctor.use(await unwrap(anonymous.POST("/auth/login", { body: doctorCredentials })));
  const doctorProfile = await unwrap(doctor.api.GET("/users/me"));
  assert.equal(doctorProfile.role, "doctor");
  const doctors = await unwrap(
    patient.api.GET("/users", { params: { query: { role: "doctor", limit: 100 } } }),
  );
  assert.ok(doctors.items.every((user) => user.role === "doctor"));
  const listed = doctors.items.find((user) => user.id === doctorProfile.id);
  assert.ok(listed, "the doctor is listed");
  assert.equal(listed.email, undefined, "patients see a doctor's public profile only");

  begin("a patient listing admins is a 403 problem");
  expectProblem(await patient.api.GET("/users", { params: { query: { role: "admin" } } }), 403);

  begin("an unverified address cannot book: an email-not-verified problem, typed");
  const unverified = await patient.api.POST("/appointments", {
    body: {
      doctor_id: doctorProfile.id,
      start_at: new Date(Date.now() + 48 * 3600 * 1000).toISOString(),
      end_at: new Date(Date.now() + 48.5 * 3600 * 1000).toISOString(),
    },
  });
  expectProblem(unverified, 403);
  if (unverified.error?.type !== "/docs/problems/email-not-verified") {
    assert.fail(`expected an email-not-verified problem, got ${unverified.error?.type}`);
  }
  assert.equal(unverified.error.email_verified, false);

  begin("verify the address with the code from the mail");
  const verified = await anonymous.POST("/auth/email-verification", {
    body: { token: await verificationCode(email) },
  });
  assert.equal(verified.response.status, 204);
  assert.equal((await unwrap(patient.api.GET("/users/me"))).email_verified, true);

  begin("search the doctor's free slots for a day and take the first one");
  const searchFrom = new Date(Date.now() + 24 * 3600 * 1000);
  searchFrom.setUTCMinutes(0, 0, 0);
  const free = await unwrap(
    patient.api.GET("/doctors/{doctor_id}/slots", {
      params: {
        path: { doctor_id: doctorProfile.id },
        query: {
          from: searchFrom.toISOString(),
          to: new Date(searchFrom.getTime() + 24 * 3600 * 1000).toISOString(),
          time_zone: "America/New_York",
        },
      },
    }),
  );
  const firstSlot = free.items[0];
  assert.ok(firstSlot, "the doctor has free slots");
  const start = new Date(firstSlot.start_at);
  assert.ok(start.getTime() >= searchFrom.getTime());
  assert.match(firstSlot.local_start_at, /-0[45]:00$/);

  begin("book the slot the search returned");
  const slot = (offsetMinutes: number, minutes: number) => ({
    start_at: new Date(start.getTime() + offsetMinutes * 60_000).toISOString(),
    end_at: new Date(start.getTime() + (offsetMinutes + minutes) * 60_000).toISOString(),
  });
  const booking = await patient.api.POST("/appointments", {
    params: { header: { "Idempotency-Key": randomUUID() } },
    body: { doctor_id: doctorProfile.id, ...slot(0, 30), reason: "Smoke test" },
  });
  assert.equal(booking.response.status, 201);
  const booked: Appointment = await unwrap(booking);
  assert.equal(booked.status, "booked");
  assert.equal(booked.patient_id, me.id);
  assert.equal(booked.doctor_id, doctorProfile.id);
  assert.equal(booking.response.headers.get("Location"), `/appointments/${booked.id}`);

  begin("the doctor's own calendar is busy at that time: a slot-taken problem, typed");
  const clashing = await doctor.api.POST("/appointments", {
    body: { patient_id: me.id, ...slot(15, 30) },
  });
  expectProblem(clashing, 409);
  const clash = clashing.error;
  // Narrowed by `type` alone: the members of each problem type are typed, none is `unknown`.
  if (clash?.type !== "/docs/problems/slot-taken") {
    assert.fail(`expected a slot-taken problem, got ${clash?.type}`);
  }
  const busy: "doctor_busy" | "patient_busy" = clash.conflict;
  assert.equal(busy, "doctor_busy");
  assert.ok(clash.busy_from !== undefined && clash.busy_until !== undefined);
  assert.equal(new Date(clash.busy_from).getTime(), new Date(booked.start_at).getTime());

  begin("the problem type resolves to its documentation");
  const typePage = await fetch(new URL(clash.type, baseUrl));
  assert.equal(typePage.status, 200);
  assert.match(await typePage.text(), /slot-taken/);

  begin("read it back");
  const path = { appointment_id: booked.id };
  const read = await patient.api.GET("/appointments/{appointment_id}", { params: { path } });
  const current = await unwrap(read);
  assert.deepEqual(current, booked);

  begin("reschedule it with If-Match");
  const moved = await patient.api.PUT("/appointments/{appointment_id}", {
    params: { path, header: { "If-Match": etagOf(read.response) } },
    body: slot(60, 30),
  });
  const rescheduled = await unwrap(moved);
  assert.equal(rescheduled.version, booked.version + 1);
  assert.equal(new Date(rescheduled.start_at).getTime(), start.getTime() + 60 * 60_000);

  begin("a stale If-Match is a precondition-failed problem with the current version");
  const stale = await patient.api.PUT("/appointments/{appointment_id}", {
    params: { path, header: { "If-Match": etagOf(read.response) } },
    body: { reason: "Changed my mind" },
  });
  expectProblem(stale, 412);
  if (stale.error?.type !== "/docs/problems/precondition-failed") {
    assert.fail(`expected a precondition-failed problem, got ${stale.error?.type}`);
  }
  const currentVersion: number = stale.error.current_version;
  assert.equal(currentVersion, rescheduled.version);

  begin("a patient writing the doctor's notes is a fields-refused problem");
  const refused = await patient.api.PUT("/appointments/{appointment_id}", {
    params: { path, header: { "If-Match": etagOf(moved.response) } },
    body: { notes: "Self-diagnosed" },
  });
  expectProblem(refused, 403);
  switch (refused.error?.type) {
    case "/docs/problems/fields-refused": {
      const fields: string[] = refused.error.refused_fields;
      assert.deepEqual(fields, ["notes"]);
      break;
    }
    default:
      assert.fail(`expected a fields-refused problem, got ${refused.error?.type}`);
  }

  begin("the doctor sees it in their list");
  const calendar = await unwrap(
    doctor.api.GET("/appointments", { params: { query: { status: ["booked"] } } }),
  );
  assert.ok(calendar.items.some((item) => item.id === booked.id));

  begin("cancel it");
  const cancelled = await unwrap(
    patient.api.PUT("/appointments/{appointment_id}", {
      params: { path, header: { "If-Match": etagOf(moved.response) } },
      body: { status: "cancelled", cancellation_reason: "Feeling better" },
    }),
  );
  assert.equal(cancelled.status, "cancelled");
  assert.equal(cancelled.cancellation_reason, "Feeling better");

  begin("a spent refresh token whose pair was refreshed since is refused and ends the sign-in");
  const third = await unwrap(
    anonymous.POST("/auth/refresh", { body: { refresh_token: refreshTokenOf(second) } }),
  );
  patient.use(third);
  expectProblem(
    await anonymous.POST("/auth/refresh", { body: { refresh_token: refreshTokenOf(first) } }),
    401,
  );
  expectProblem(await patient.api.GET("/users/me"), 401);
}

main().then(
  () => console.log("smoke: all steps passed"),
  (failure: unknown) => {
    console.error(`smoke: failed at step "${step}"`);
    console.error(failure);
    process.exitCode = 1;
  },
);
