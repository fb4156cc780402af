using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tollgate.Core.Pricing;

/// <summary>The pricing catalog's binding, with the conventions of <see cref="Serialization.ModelJson.Strict"/> (see <see cref="Policy.PolicyJsonContext"/>).</summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    NumberHandling = JsonNumberHandling.Strict,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    PropertyNameCaseInsensitive = false)]
[JsonSerializable(typeof(PricingFile))]
internal sealed partial class PricingJsonContext : JsonSerializerContext;
