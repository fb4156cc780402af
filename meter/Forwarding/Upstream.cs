namespace Tollgate.Meter.Forwarding;

/// <summary>One provider endpoint: where requests go, the client that sends them, and the key the meter holds for it.</summary>
internal sealed record Upstream(string Provider, string DestinationPrefix, HttpMessageInvoker Invoker, string? ApiKey);
