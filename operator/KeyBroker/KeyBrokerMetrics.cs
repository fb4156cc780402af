using System.Globalization;
using System.Text;

namespace Tollgate.Operator.KeyBroker;

/// <summary>
/// <c>tollgate_operator_key_broker_requests_total{outcome}</c>, rendered into the operator's <c>/metrics</c> (which is
/// written by hand, like its other two series). The outcomes are a fixed set, so the label stays bounded.
/// </summary>
public sealed class KeyBrokerMetrics
{
    private readonly long[] _counts = new long[Enum.GetValues<BrokerOutcome>().Length];

    public void Count(BrokerOutcome outcome) => Interlocked.Increment(ref _counts[(int)outcome]);

    public long Of(BrokerOutcome outcome) => Interlocked.Read(ref _counts[(int)outcome]);

    public void WriteTo(StringBuilder text)
    {
        ArgumentNullException.ThrowIfNull(text);
        text.Append("# HELP tollgate_operator_key_broker_requests_total Key broker requests answered by this replica, by outcome.\n")
            .Append("# TYPE tollgate_operator_key_broker_requests_total counter\n");
        foreach (var outcome in Enum.GetValues<BrokerOutcome>())
        {
            text.Append(CultureInfo.InvariantCulture, $"tollgate_operator_key_broker_requests_total{{outcome=\"{Label(outcome)}\"}} {Of(outcome)}\n");
        }
    }

    public static string Label(BrokerOutcome outcome) => outcome switch
    {
        BrokerOutcome.Issued => "issued",
        BrokerOutcome.BadRequest => "bad_request",
        BrokerOutcome.Unauthenticated => "unauthenticated",
        BrokerOutcome.Forbidden => "forbidden",
        _ => "unavailable",
    };
}

/// <summary>How a key broker request ended.</summary>
public enum BrokerOutcome
{
    Issued,
    BadRequest,
    Unauthenticated,
    Forbidden,
    Unavailable,
}
