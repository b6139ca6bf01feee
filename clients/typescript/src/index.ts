/**
 * The MedAI API client: openapi-fetch over types generated from openapi/medai.yaml.
 *
 *     const api = createMedAIClient("https://medai.example", { getAccessToken: () => token });
 *     const { data, error } = await api.GET("/users", { params: { query: { role: "doctor" } } });
 *
 * Paths, parameters, bodies and replies (errors included, as `Problem`) are typed from the
 * contract; nothing here is written by hand per operation, so regenerating `schema.d.ts` is
 * all a spec change needs.
 */
import createClient, { type Client, type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema.js";

export type * from "./schema.js";

export type MedAIClient = Client<paths>;
export type Problem = components["schemas"]["Problem"];

/** An access token, or nothing when signed out. */
export type AccessToken = string | null | undefined;

export interface MedAIClientOptions {
  /** Asked before every request, so a refreshed token is picked up at once. */
  getAccessToken?: () => AccessToken | Promise<AccessToken>;
  /** A fetch to use instead of the global one (server-side rendering, tests). */
  fetch?: (input: Request) => Promise<Response>;
}

export function createMedAIClient(baseUrl: string, options: MedAIClientOptions = {}): MedAIClient {
  const client = createClient<paths>({
    baseUrl,
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  });
  if (options.getAccessToken !== undefined) {
    client.use(bearerToken(options.getAccessToken));
  }
  return client;
}

function bearerToken(getAccessToken: () => AccessToken | Promise<AccessToken>): Middleware {
  return {
    async onRequest({ request }) {
      const token = await getAccessToken();
      // A call that sets its own Authorization (acting as someone else) keeps it.
      if (token && !request.headers.has("Authorization")) {
        request.headers.set("Authorization", `Bearer ${token}`);
      }
      return request;
    },
  };
}

/** An error reply, as the RFC 9457 problem the API sends. */
export class ApiProblem extends Error {
  readonly status: number;
  readonly problem: Problem;
  readonly response: Response;

  constructor(response: Response, body: unknown) {
    const problem: Problem = isProblem(body)
      ? body
      : {
          type: "about:blank",
          title: response.statusText || "Error",
          status: response.status,
          detail: describe(body),
        };
    super(`${problem.status} ${problem.title}${problem.detail ? `: ${problem.detail}` : ""}`);
    this.name = "ApiProblem";
    this.status = problem.status;
    this.problem = problem;
    this.response = response;
  }
}

export function isProblem(value: unknown): value is Problem {
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return typeof candidate["title"] === "string" && typeof candidate["status"] === "number";
}

function describe(body: unknown): string | null {
  if (body === undefined || body === null || body === "") return null;
  return typeof body === "string" ? body.slice(0, 200) : JSON.stringify(body).slice(0, 200);
}

/** What every openapi-fetch call resolves to: data on success, error otherwise. */
interface Reply {
  data?: unknown;
  error?: unknown;
  response: Response;
}

/**
 * The data of a successful reply; an `ApiProblem` is thrown for any other status. Judged by
 * the status, not by `error`: openapi-fetch leaves `error` undefined on an empty error body.
 */
export async function unwrap<R extends Reply>(
  reply: R | Promise<R>,
): Promise<Exclude<R["data"], undefined>> {
  const { data, error, response } = await reply;
  if (!response.ok) throw new ApiProblem(response, error);
  return data as Exclude<R["data"], undefined>;
}

/** The `ETag` of a reply, for the `If-Match` of the next change. */
export function etagOf(response: Response): string {
  const etag = response.headers.get("ETag");
  if (etag === null) throw new Error(`${response.url} sent no ETag`);
  return etag;
}
