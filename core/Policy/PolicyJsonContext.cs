using System.Text.Json;
using System.Text.Json.Serialization;
using Tollgate.Core.Api.V1Alpha1;

namespace Tollgate.Core.Policy;

/// <summary>
/// The policy kinds with the conventions of <see cref="Serialization.ModelJson.Strict"/> fixed at compile time: a
/// natively compiled meter has no reflection-based serializer to fall back on. A test keeps the options equal.
/// </summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    NumberHandling = JsonNumberHandling.Strict,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    PropertyNameCaseInsensitive = false)]
[JsonSerializable(typeof(AiBudget))]
[JsonSerializable(typeof(AiRoutingRule))]
internal sealed partial class PolicyJsonContext : JsonSerializerContext;
