using System.Runtime.CompilerServices;
using Tollgate.Core.Serialization;

namespace Tollgate.Core.Policy;

/// <summary>Where a loaded object came from, so validation errors can name file, document and line.</summary>
public sealed record SourceLocation(string File, int Document, YamlJsonDocument Yaml);

/// <summary>Attaches <see cref="SourceLocation"/>s to loaded objects without adding fields to the API types.</summary>
public static class SourceMap
{
    private static readonly ConditionalWeakTable<object, SourceLocation> Locations = [];

    public static void Remember(object entity, SourceLocation location) => Locations.AddOrUpdate(entity, location);

    public static SourceLocation? Of(object entity) => Locations.TryGetValue(entity, out var location) ? location : null;
}
