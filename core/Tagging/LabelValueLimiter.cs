using System.Collections.Concurrent;

namespace Tollgate.Core.Tagging;

/// <summary>
/// Caps the distinct values one metric label may take in a process. The first <see cref="MaxValues"/> values are
/// admitted and keep their own series for the life of the process; any later value is refused, and the caller
/// publishes it as <see cref="OverflowValue"/>. Client-supplied values (team, repo, model…) would otherwise let one
/// CI job create series without bound: 10,000 repo names made 216k series and doubled the meter's memory.
/// </summary>
/// <remarks>
/// Thread-safe. A value already admitted is answered by a lock-free lookup, and so is any new value once the label is
/// full; only the admission of a new value takes the lock, so the cap holds exactly under parallel admission.
/// The empty string (a tag the request did not carry) and <see cref="OverflowValue"/> itself are always answered
/// "admitted" and take no slot.
/// NOTE: it may seem wise to free the slots of values unused for a while. HOWEVER a counter series that disappears
/// and later reappears from zero reads as a reset to Prometheus, and the exporter's totals are kept forever; an
/// admitted value keeps its slot.
/// </remarks>
public sealed class LabelValueLimiter
{
    /// <summary>The label value that stands for every refused value.</summary>
    public const string OverflowValue = "__overflow__";

    private readonly ConcurrentDictionary<string, byte> _admitted = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly Func<string, bool>? _acceptable;
    private int _count;
    private volatile bool _full;

    /// <param name="label">The label's name, for the overflow counter and messages.</param>
    /// <param name="maxValues">The most distinct values admitted (at least 1).</param>
    /// <param name="acceptable">
    /// An optional check on a value before it is admitted (e.g. <see cref="ModelName.IsValid"/>); a value it refuses is
    /// folded without taking a slot.
    /// </param>
    public LabelValueLimiter(string label, int maxValues, Func<string, bool>? acceptable = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxValues, 1);
        Label = label;
        MaxValues = maxValues;
        _acceptable = acceptable;
    }

    public string Label { get; }

    public int MaxValues { get; }

    /// <summary>Distinct values admitted so far (never above <see cref="MaxValues"/>).</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>True once <see cref="MaxValues"/> values are admitted: every new value is refused from then on.</summary>
    public bool IsFull => _full;

    /// <summary>True when <paramref name="value"/> may be published as it is (admitted now or before).</summary>
    public bool TryAdmit(string value)
    {
        if (value.Length == 0 || _admitted.ContainsKey(value) || value == OverflowValue)
        {
            return true;
        }

        if (_full)
        {
            return false;
        }

        if (_acceptable is not null && !_acceptable(value))
        {
            return false;
        }

        lock (_gate)
        {
            if (_admitted.ContainsKey(value))
            {
                return true;
            }

            if (_count >= MaxValues)
            {
                return false;
            }

            _admitted[value] = 0;
            Volatile.Write(ref _count, _count + 1);
            _full = _count >= MaxValues;
            return true;
        }
    }

    /// <summary><paramref name="value"/> if it is admitted, otherwise <see cref="OverflowValue"/>.</summary>
    public string Admit(string value) => TryAdmit(value) ? value : OverflowValue;
}
