using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Tollgate.Core.Serialization;

namespace Tollgate.Core.Pricing;

/// <summary>
/// Model list prices. Names resolve exactly, then through aliases, then with dated snapshot suffixes removed
/// (<c>claude-sonnet-4-5-20250929</c> → <c>claude-sonnet-4-5</c>, <c>gpt-4o-2024-08-06</c> → <c>gpt-4o</c>). A model the
/// catalog does not know is priced with the fallback, never as free.
/// </summary>
public sealed partial class PricingCatalog
{
    /// <summary>
    /// The largest rate a catalog may give, USD per 1M tokens (a dollar a token). Far above any list price, it keeps
    /// tokens × rate inside a decimal for every token count a long holds, so a typo cannot make a cost overflow.
    /// </summary>
    public const decimal MaxRate = 1_000_000m;

    /// <summary>The largest <c>maxOutputTokens</c> a catalog may give: a typo with extra zeros is refused at load.</summary>
    public const long MaxOutputTokensLimit = 10_000_000;

    private const string EmbeddedName = "Tollgate.Core.Pricing.models.yaml";
    private const int MaxCachedNames = 4096;

    private readonly Dictionary<string, ModelPrice> _byName;
    private readonly ConcurrentDictionary<(string Provider, string Model), PriceQuote> _resolved = new();

    private PricingCatalog(IReadOnlyList<ModelPrice> models, Dictionary<string, ModelPrice> byName, ModelPrice fallback, string origin)
    {
        Models = models;
        _byName = byName;
        Fallback = fallback;
        Origin = origin;
    }

    public IReadOnlyList<ModelPrice> Models { get; }

    /// <summary>The price applied to models not in the catalog.</summary>
    public ModelPrice Fallback { get; }

    /// <summary>Where the catalog came from (a path, or "embedded").</summary>
    public string Origin { get; }

    /// <summary>The catalog shipped with Tollgate (<c>config/pricing/models.yaml</c>).</summary>
    public static PricingCatalog LoadEmbedded()
    {
        using var stream = typeof(PricingCatalog).Assembly.GetManifestResourceStream(EmbeddedName)
            ?? throw new InvalidOperationException($"The embedded pricing catalog {EmbeddedName} is missing from the build.");
        using var reader = new StreamReader(stream);
        return Parse("embedded models.yaml", reader.ReadToEnd());
    }

    /// <summary>Loads a catalog file given with <c>--pricing</c>.</summary>
    public static PricingCatalog LoadFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new DocumentException(new DocumentError(path, null, null, null, null, $"cannot read the pricing catalog: {ex.Message}"));
        }

        return Parse(path, text);
    }

    public static PricingCatalog Parse(string file, string yaml)
    {
        var documents = DocumentReader.ParseYaml(file, yaml);
        if (documents.Count != 1 || documents[0].Root is null)
        {
            throw new DocumentException(new DocumentError(file, null, null, null, null, "a pricing catalog is exactly one YAML document"));
        }

        var document = documents[0];
        var raw = DocumentReader.Bind(file, null, null, document, document.Root!, PricingJsonContext.Default.PricingFile);
        var errors = new List<DocumentError>();
        void Fail(string field, string message) => errors.Add(new DocumentError(file, null, null, field, document.LineOf(field), message));

        if (!string.Equals(raw.Currency, "usd", StringComparison.OrdinalIgnoreCase))
        {
            Fail("currency", $"only usd is supported (got \"{raw.Currency}\")");
        }

        var models = new List<ModelPrice>();
        var byName = new Dictionary<string, ModelPrice>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < raw.Models.Count; i++)
        {
            var entry = raw.Models[i];
            var at = $"models[{i}]";
            if (entry.Provider is not ("anthropic" or "openai"))
            {
                Fail($"{at}.provider", $"must be anthropic or openai (got \"{entry.Provider}\")");
            }

            if (string.IsNullOrWhiteSpace(entry.Model))
            {
                Fail($"{at}.model", "is required");
                continue;
            }

            decimal Rate(decimal? value, string name)
            {
                if (value is null)
                {
                    Fail($"{at}.{name}", "is required (USD per 1M tokens)");
                    return 0;
                }

                if (value < 0)
                {
                    Fail($"{at}.{name}", "must not be negative");
                }
                else if (value > MaxRate)
                {
                    Fail($"{at}.{name}", $"must be at most {MaxRate} (USD per 1M tokens)");
                }

                return value.Value;
            }

            var price = new ModelPrice(entry.Provider, entry.Model,
                Rate(entry.Input, "input"), Rate(entry.Output, "output"), Rate(entry.CacheRead, "cacheRead"), Rate(entry.CacheWrite, "cacheWrite"),
                entry.Source, CheckMaxOutputTokens(entry.MaxOutputTokens, $"{at}.maxOutputTokens", Fail));
            models.Add(price);
            foreach (var name in entry.Aliases.Prepend(entry.Model))
            {
                if (!byName.TryAdd(name, price))
                {
                    Fail($"{at}.model", $"the name \"{name}\" is listed twice");
                }
            }
        }

        var fallback = BuildFallback(raw.Fallback, models, Fail);
        if (errors.Count > 0)
        {
            throw new DocumentException(errors);
        }

        return new PricingCatalog(models, byName, fallback, file);
    }

    /// <summary>The price for a model as a provider names it.</summary>
    public PriceQuote Resolve(string provider, string? model)
    {
        var name = string.IsNullOrWhiteSpace(model) ? string.Empty : model.Trim();
        if (_resolved.TryGetValue((provider, name), out var cached))
        {
            return cached;
        }

        var quote = Lookup(name) is { } price ? new PriceQuote(price, Known: true) : new PriceQuote(Fallback with { Provider = provider, Model = name }, Known: false);

        // Names come from requests: bound the cache so a stream of made-up model names cannot grow it forever.
        if (_resolved.Count < MaxCachedNames)
        {
            _resolved.TryAdd((provider, name), quote);
        }

        return quote;
    }

    private ModelPrice? Lookup(string name)
    {
        if (name.Length == 0)
        {
            return null;
        }

        // "anthropic/claude-…" and "openai/gpt-…" are common gateway spellings.
        var slash = name.LastIndexOf('/');
        var candidate = slash >= 0 ? name[(slash + 1)..] : name;

        // Bedrock model ids: "anthropic.claude-…-v1:0", with an optional region prefix ("us.anthropic.…").
        var bedrock = candidate.IndexOf("anthropic.", StringComparison.OrdinalIgnoreCase);
        if (bedrock >= 0)
        {
            candidate = candidate[(bedrock + "anthropic.".Length)..];
        }

        for (var i = 0; i < 3; i++)
        {
            if (_byName.TryGetValue(candidate, out var price))
            {
                return price;
            }

            var stripped = SnapshotSuffix().Replace(candidate, string.Empty);
            if (stripped == candidate)
            {
                return null;
            }

            candidate = stripped;
        }

        return null;
    }

    private static long? CheckMaxOutputTokens(long? value, string field, Action<string, string> fail)
    {
        if (value is <= 0 or > MaxOutputTokensLimit)
        {
            fail(field, $"must be a positive whole number of tokens, at most {MaxOutputTokensLimit} (got {value})");
            return null;
        }

        return value;
    }

    private static ModelPrice BuildFallback(PricingFallback fallback, List<ModelPrice> models, Action<string, string> fail)
    {
        // An unknown model's output is unknown too: it is bounded by a cap, never by what the request asks for.
        var maxOutput = CheckMaxOutputTokens(fallback.MaxOutputTokens, "fallback.maxOutputTokens", fail) ?? ModelPrice.SafeMaxOutputTokens;
        switch (fallback.Mode)
        {
            case "max":
                if (models.Count == 0)
                {
                    fail("fallback.mode", "max needs at least one model in the catalog");
                    return new ModelPrice("", "", 0, 0, 0, 0, null);
                }

                return new ModelPrice(string.Empty, "fallback", models.Max(m => m.Input), models.Max(m => m.Output),
                    models.Max(m => m.CacheRead), models.Max(m => m.CacheWrite), "fallback: most expensive catalog rate of each type", maxOutput);
            case "fixed":
                if (fallback.Input is null || fallback.Output is null)
                {
                    fail("fallback", "fixed needs input and output rates");
                }

                if (fallback.Input is 0 && fallback.Output is 0)
                {
                    fail("fallback", "a zero fallback would make unknown models free; give real rates");
                }

                if (new[] { fallback.Input, fallback.Output, fallback.CacheRead, fallback.CacheWrite }.Any(rate => rate is < 0 or > MaxRate))
                {
                    fail("fallback", $"rates must be from 0 to {MaxRate} (USD per 1M tokens)");
                }

                return new ModelPrice(string.Empty, "fallback", fallback.Input ?? 0, fallback.Output ?? 0,
                    fallback.CacheRead ?? fallback.Input ?? 0, fallback.CacheWrite ?? fallback.Input ?? 0, "fallback: fixed", maxOutput);
            default:
                fail("fallback.mode", $"must be max or fixed (got \"{fallback.Mode}\")");
                return new ModelPrice("", "", 0, 0, 0, 0, null);
        }
    }

    [GeneratedRegex(@"(-\d{8}|-\d{4}-\d{2}-\d{2}|@\d{8}|-latest|-v\d+:\d+)$", RegexOptions.CultureInvariant)]
    private static partial Regex SnapshotSuffix();
}
