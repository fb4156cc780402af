using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tollgate.Core.Serialization;

/// <summary>The JSON conventions of every Tollgate document: Kubernetes camelCase, and unknown fields are errors.</summary>
public static class ModelJson
{
    /// <summary>
    /// Strict: an unknown field is rejected rather than ignored, because a misspelt <c>hardcap</c> silently ignored
    /// is a budget that does not do what its author thinks (kubectl's <c>--validate=strict</c> makes the same call).
    /// </summary>
    public static JsonSerializerOptions Strict { get; } = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        NumberHandling = JsonNumberHandling.Strict,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        PropertyNameCaseInsensitive = false,
    };
}
