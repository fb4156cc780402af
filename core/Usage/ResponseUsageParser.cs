using System.Buffers;
using System.Text.Json.Nodes;

namespace Tollgate.Core.Usage;

/// <summary>
/// Reads a provider response as it streams past and reports the usage it carried. JSON bodies are scanned token by
/// token; event streams line by line, parsing only the events that can carry usage or the model. Nothing of the
/// content is kept beyond the current line.
/// </summary>
/// <remarks>
/// In rewrite mode (an OpenAI chat stream for which the meter asked for <c>stream_options.include_usage</c> on the
/// client's behalf) the usage chunk the client did not ask for is removed: dropped whole when its <c>choices</c> is
/// empty, or stripped of its <c>usage</c> when a compatible provider put content beside it.
/// </remarks>
public sealed class ResponseUsageParser : IDisposable
{
    private const int MaxLineBytes = 8 * 1024 * 1024;

    private readonly string _provider;
    private readonly bool _eventStream;
    private readonly UsageJsonScanner _scanner = new();
    private byte[]? _line;
    private int _lineLength;
    private bool _lineOverflow;
    private bool _dropNextBlankLine;
    private int _deltaEvents;

    public ResponseUsageParser(ApiDialect dialect, bool eventStream, bool stripInjectedUsage)
    {
        _provider = Providers.Of(dialect);
        _eventStream = eventStream;
        RewritesBody = eventStream && stripInjectedUsage;
    }

    /// <summary>True when the body must go through <see cref="Rewrite"/> instead of being passed on unchanged.</summary>
    public bool RewritesBody { get; }

    /// <summary>Observes a chunk that is passed on unchanged.</summary>
    public void Observe(ReadOnlySpan<byte> chunk)
    {
        if (_eventStream)
        {
            Split(chunk, output: null);
        }
        else
        {
            _scanner.ScanChunk(chunk, isFinal: false);
        }
    }

    /// <summary>Observes a chunk and writes what the client should see (complete lines only) to <paramref name="output"/>.</summary>
    public void Rewrite(ReadOnlySpan<byte> chunk, IBufferWriter<byte> output) => Split(chunk, output);

    /// <summary>Ends the body: flushes a trailing partial line in rewrite mode and finishes a JSON scan.</summary>
    public void Complete(IBufferWriter<byte>? output)
    {
        if (_eventStream)
        {
            if (_lineLength > 0)
            {
                ProcessLine(_line.AsSpan(0, _lineLength), [], output);
                _lineLength = 0;
            }
        }
        else
        {
            _scanner.ScanChunk([], isFinal: true);
        }
    }

    public UsageObservation GetObservation() => new(
        _scanner.Model,
        _scanner.Fields.Normalize(_provider),
        _scanner.FinalUsageSeen,
        _deltaEvents);

    public void Dispose()
    {
        _scanner.Dispose();
        if (_line is not null)
        {
            ArrayPool<byte>.Shared.Return(_line);
            _line = null;
        }
    }

    private void Split(ReadOnlySpan<byte> chunk, IBufferWriter<byte>? output)
    {
        while (!chunk.IsEmpty)
        {
            var newline = chunk.IndexOf((byte)'\n');
            if (newline < 0)
            {
                Carry(chunk, output);
                return;
            }

            var piece = chunk[..(newline + 1)];
            chunk = chunk[(newline + 1)..];
            if (_lineLength > 0 || _lineOverflow)
            {
                Carry(piece, output);
                if (!_lineOverflow)
                {
                    ProcessRaw(_line.AsSpan(0, _lineLength), output);
                }
                else if (output is not null)
                {
                    // The overflowing line was already passed on as-is; nothing left to hold.
                }

                _lineLength = 0;
                _lineOverflow = false;
            }
            else
            {
                ProcessRaw(piece, output);
            }
        }
    }

    private void Carry(ReadOnlySpan<byte> bytes, IBufferWriter<byte>? output)
    {
        if (_lineOverflow)
        {
            output?.Write(bytes);
            return;
        }

        if (_lineLength + bytes.Length > MaxLineBytes)
        {
            // A line this long carries content, not usage: stop holding it and pass it through untouched.
            _lineOverflow = true;
            output?.Write(_line.AsSpan(0, _lineLength));
            output?.Write(bytes);
            _lineLength = 0;
            return;
        }

        if (_line is null || _line.Length < _lineLength + bytes.Length)
        {
            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(4096, (_lineLength + bytes.Length) * 2));
            _line?.AsSpan(0, _lineLength).CopyTo(bigger);
            if (_line is not null)
            {
                ArrayPool<byte>.Shared.Return(_line);
            }

            _line = bigger;
        }

        bytes.CopyTo(_line.AsSpan(_lineLength));
        _lineLength += bytes.Length;
    }

    /// <summary>Handles one line including its terminator.</summary>
    private void ProcessRaw(ReadOnlySpan<byte> raw, IBufferWriter<byte>? output)
    {
        var eolLength = raw.EndsWith("\r\n"u8) ? 2 : raw.EndsWith("\n"u8) ? 1 : 0;
        ProcessLine(raw[..^eolLength], raw[^eolLength..], output);
    }

    private void ProcessLine(ReadOnlySpan<byte> line, ReadOnlySpan<byte> eol, IBufferWriter<byte>? output)
    {
        if (line.IsEmpty)
        {
            if (_dropNextBlankLine)
            {
                _dropNextBlankLine = false;
                return;
            }

            Emit(line, eol, output);
            return;
        }

        _dropNextBlankLine = false;
        if (!line.StartsWith("data:"u8))
        {
            Emit(line, eol, output);
            return;
        }

        var payload = line[5..].TrimStart((byte)' ');
        if (payload.SequenceEqual("[DONE]"u8))
        {
            Emit(line, eol, output);
            return;
        }

        var mayCarryUsage = payload.IndexOf("\"usage\""u8) >= 0;
        var carried = false;
        if (mayCarryUsage || _scanner.Model is null)
        {
            carried = _scanner.ScanDocument(payload);
            if (carried && output is not null && TryEmitWithoutUsage(payload, eol, output))
            {
                return;
            }
        }

        if (!carried && payload.IndexOf("delta\""u8) >= 0)
        {
            _deltaEvents++;
        }

        Emit(line, eol, output);
    }

    private static void Emit(ReadOnlySpan<byte> line, ReadOnlySpan<byte> eol, IBufferWriter<byte>? output)
    {
        if (output is null)
        {
            return;
        }

        output.Write(line);
        output.Write(eol);
    }

    /// <returns>False when the chunk cannot be rebuilt; the caller then passes it on unchanged.</returns>
    private bool TryEmitWithoutUsage(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> eol, IBufferWriter<byte> output)
    {
        // Rare path (once per stream): materialising the one chunk is simpler and safer than splicing bytes.
        byte[] rebuilt;
        try
        {
            if (JsonNode.Parse(payload) is not JsonObject chunk)
            {
                return false;
            }

            if (chunk["choices"] is not JsonArray { Count: > 0 })
            {
                _dropNextBlankLine = true;
                return true;
            }

            chunk.Remove("usage");
            rebuilt = System.Text.Encoding.UTF8.GetBytes(chunk.ToJsonString());
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or ArgumentException or InvalidOperationException)
        {
            // Duplicate keys or a lone surrogate: showing the client an extra usage chunk beats breaking its stream.
            return false;
        }

        output.Write("data: "u8);
        output.Write(rebuilt);
        output.Write(eol);
        return true;
    }
}
