namespace Tollgate.Meter.Forwarding;

/// <summary>
/// One provider endpoint: where requests go and the client that sends them. Which key a request to it carries is
/// <see cref="Keys.KeyStore"/>'s decision: <see cref="ApiKey"/> when a routing target brings its own, none when
/// <see cref="ClientKey"/> (an unmetered call spends the client's own credentials), else the provider's key.
/// </summary>
internal sealed record Upstream(string Provider, string DestinationPrefix, HttpMessageInvoker Invoker)
{
    /// <summary>A routing target's own key (read from its Secret for this request); null for the provider's.</summary>
    public string? ApiKey { get; init; }

    /// <summary>Forward the client's own key: the meter's keys are for the calls it meters.</summary>
    public bool ClientKey { get; init; }

    /// <summary>Printed without the key.</summary>
    public override string ToString() => $"Upstream {{ Provider = {Provider}, DestinationPrefix = {DestinationPrefix}, OwnKey = {ApiKey is not null}, ClientKey = {ClientKey} }}";
}
