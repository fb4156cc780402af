using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Compression;
using System.IO.Pipelines;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Tollgate.TestSupport;

/// <summary>
/// Writes JSON and SSE framing straight into the response pipe (optionally through gzip), reusing one pooled
/// <see cref="Utf8JsonWriter"/>, so a benchmark measures the proxy rather than the fake.
/// </summary>
internal sealed class ResponseSink : IAsyncDisposable
{
    private static readonly ConcurrentQueue<Utf8JsonWriter> Pool = new();
    // Relaxed escaping: the real APIs send apostrophes and non-ASCII text raw, not as \u0027.
    private static readonly JsonWriterOptions WriterOptions = new() { SkipValidation = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private const int MaxPooled = 1024;

    private readonly PipeWriter _output;
    private readonly GZipStream? _gzip;
    private readonly Utf8JsonWriter _json;

    public ResponseSink(HttpResponse response, bool gzip)
    {
        if (gzip)
        {
            // Sync-flushing gzip keeps every SSE event decodable as soon as it is sent, like a real compressing edge.
            _gzip = new GZipStream(response.Body, CompressionLevel.Fastest, leaveOpen: true);
            _output = PipeWriter.Create(_gzip, new StreamPipeWriterOptions(leaveOpen: true));
        }
        else
        {
            _output = response.BodyWriter;
        }

        if (Pool.TryDequeue(out var json))
        {
            json.Reset(_output);
        }
        else
        {
            json = new Utf8JsonWriter(_output, WriterOptions);
        }

        _json = json;
    }

    public void Write(ReadOnlySpan<byte> raw) => _output.Write(raw);

    /// <summary>Writes the SSE prefix (for example <c>event: x\ndata: </c>) and hands out the writer for one JSON payload.</summary>
    public Utf8JsonWriter BeginJson(ReadOnlySpan<byte> prefix)
    {
        if (!prefix.IsEmpty)
        {
            _output.Write(prefix);
        }

        // Reset per payload: SSE data lines are separate top-level JSON values, not one document.
        _json.Reset(_output);
        return _json;
    }

    public void EndJson(ReadOnlySpan<byte> suffix)
    {
        _json.Flush();
        if (!suffix.IsEmpty)
        {
            _output.Write(suffix);
        }
    }

    public async ValueTask FlushAsync(CancellationToken ct)
    {
        var result = await _output.FlushAsync(ct);
        if (result.IsCanceled || result.IsCompleted)
        {
            // The reading side is gone: the client disconnected.
            throw new OperationCanceledException(ct);
        }

        ct.ThrowIfCancellationRequested();
    }

    public async ValueTask DisposeAsync()
    {
        _json.Reset(Stream.Null);
        if (Pool.Count < MaxPooled)
        {
            Pool.Enqueue(_json);
        }
        else
        {
            await _json.DisposeAsync();
        }

        if (_gzip is not null)
        {
            try
            {
                await _output.CompleteAsync();
                await _gzip.DisposeAsync();
            }
            catch (Exception e) when (e is IOException or OperationCanceledException)
            {
                // The client is gone; there is nobody left to receive the gzip trailer.
            }
        }
    }
}

/// <summary>Provider-looking identifiers.</summary>
internal static class Ids
{
    private const string Base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    private const string Hex = "0123456789abcdef";

    public static string Base62Id(string prefix, int length) => Create(prefix, length, Base62);

    public static string HexId(string prefix, int length) => Create(prefix, length, Hex);

    private static string Create(string prefix, int length, string alphabet) =>
        string.Create(prefix.Length + length, (prefix, alphabet), static (span, state) =>
        {
            state.prefix.AsSpan().CopyTo(span);
            Random.Shared.GetItems(state.alphabet.AsSpan(), span[state.prefix.Length..]);
        });
}
