-- wrk script: Anthropic Messages request, non-streaming.
-- Identical on the direct and the metered path (the fake upstream ignores X-Tollgate-Metadata).
wrk.method = "POST"
wrk.path = "/v1/messages"
wrk.headers["content-type"] = "application/json"
wrk.headers["anthropic-version"] = "2023-06-01"
wrk.headers["x-api-key"] = "bench-key"
wrk.headers["X-Tollgate-Metadata"] = '{"team":"bench","repo":"r1","pipeline":"p"}'
wrk.body = '{"model":"claude-sonnet-4-5","max_tokens":1024,"stream":false,"messages":[{"role":"user","content":"You are reviewing a pull request for a payments service. The change adds retry logic with exponential backoff to the HTTP client that calls the card network, and a circuit breaker around the settlement batch job. Please list any correctness problems, missing tests, and risks for idempotency when a retried request reaches the network twice. Keep the answer short and refer to file names and lines."}]}'

-- No response() callback: it would cost wrk time per response. wrk itself reports "Non-2xx or 3xx responses".
