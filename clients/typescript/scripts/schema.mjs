// Generates src/schema.d.ts from the contract, or with `--check` regenerates it to a temporary
// file and fails (exit 1, with a diff) when the committed file differs: CI's drift check.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const spec = resolve(root, "../../openapi/medai.yaml");
const committed = join(root, "src/schema.d.ts");
// --root-types: `User`, `Appointment`, … importable by name, not only as components["schemas"][…].
const flags = ["--root-types", "--root-types-no-schema-prefix"];

function generate(output) {
  const bin = join(root, "node_modules/.bin/openapi-typescript");
  const run = spawnSync(bin, [spec, "--output", output, ...flags], { cwd: root, encoding: "utf8" });
  if (run.status !== 0) {
    process.stderr.write(run.stdout + run.stderr);
    process.exit(run.status ?? 1);
  }
}

if (!process.argv.includes("--check")) {
  generate(committed);
} else {
  const scratch = mkdtempSync(join(tmpdir(), "medai-schema-"));
  try {
    const fresh = join(scratch, "schema.d.ts");
    generate(fresh);
    if (readFileSync(fresh, "utf8") === readFileSync(committed, "utf8")) {
      console.log("src/schema.d.ts matches openapi/medai.yaml");
    } else {
      spawnSync("diff", ["-u", committed, fresh], { stdio: "inherit" });
      console.error(
        "src/schema.d.ts is stale: the spec changed without regenerating the client.\n" +
          "Run `npm run generate` in clients/typescript and commit the result.",
      );
      process.exitCode = 1;
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
