namespace Tollgate.Core.Api.V1Alpha1;

// The schema vocabulary of the API types. The operator's CRD generator (operator/Crds) reads these, together with
// [KubernetesEntity] from KubernetesClient, the XML <summary> of every type and property (as descriptions) and the
// BCL's [Required], [AllowedValues], [MinLength] and [MaxLength] from System.ComponentModel.DataAnnotations.
// They live beside the types because the types are the source of truth for crds/; nothing at run time reads them,
// and none of them changes how System.Text.Json reads or writes a document.

/// <summary>Why the API types may carry the BCL's schema attributes in a trimmed, natively compiled meter.</summary>
internal static class SchemaMetadata
{
    /// <summary>
    /// [MinLength]/[MaxLength] are marked as needing unreferenced code because their <c>IsValid</c> looks up a
    /// <c>Count</c> property by reflection. Nothing validates these types with DataAnnotations: only the operator's
    /// CRD generator reads the attributes' <c>Length</c>, and that runs on the JIT.
    /// </summary>
    public const string DataAnnotationsOnly = "Schema metadata for the CRD generator; DataAnnotations validation never runs on these types.";
}

/// <summary>Whether objects of a kind live in a namespace or once per cluster.</summary>
public enum EntityScope
{
    Namespaced,
    Cluster,
}

/// <summary>The column types <c>kubectl get</c> knows how to format.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720:Identifier contains type name",
    Justification = "The members are the CRD's own column type names, lowercased into the YAML.")]
public enum PrinterColumnType
{
    String,
    Integer,
    Number,
    Boolean,
    Date,
}

/// <summary>The CRD's <c>spec.scope</c>; a kind without it is namespaced.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class EntityScopeAttribute(EntityScope scope) : Attribute
{
    public EntityScope Scope { get; } = scope;
}

/// <summary>Short names <c>kubectl</c> accepts for the kind (<c>kubectl get aib</c>).</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class ShortNamesAttribute(params string[] names) : Attribute
{
    public IReadOnlyList<string> Names { get; } = names;
}

/// <summary>Categories the kind joins, so <c>kubectl get tollgate</c> lists every Tollgate object.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class CategoriesAttribute(params string[] names) : Attribute
{
    public IReadOnlyList<string> Names { get; } = names;
}

/// <summary>
/// One column of <c>kubectl get</c>, in declaration order. On the kind rather than on a property, as kubebuilder's
/// <c>printcolumn</c> marker, because columns such as Age read paths outside the C# types.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
public sealed class PrinterColumnAttribute(string name, string jsonPath, PrinterColumnType type) : Attribute
{
    public string Name { get; } = name;

    public string JsonPath { get; } = jsonPath;

    public PrinterColumnType Type { get; } = type;

    /// <summary>0 shows the column always; higher only with <c>-o wide</c>.</summary>
    public int Priority { get; init; }

    public string? Description { get; init; }
}

/// <summary>
/// A CEL rule the API server evaluates (<c>x-kubernetes-validations</c>), with <c>self</c> bound to the property's value
/// or, on a class, to the object. For what a per-field schema cannot say: relations between fields, order in a list.
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Property, AllowMultiple = true)]
public sealed class CelValidationAttribute(string rule, string message) : Attribute
{
    public string Rule { get; } = rule;

    public string Message { get; } = message;
}

/// <summary>
/// An ECMA/RE2 regular expression the string must contain a match of (OpenAPI <c>pattern</c>: unanchored, unlike the BCL's
/// <c>[RegularExpression]</c>, so anchor it). On a list of strings it applies to each item.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class PatternAttribute(string pattern) : Attribute
{
    public string Pattern { get; } = pattern;
}

/// <summary>The smallest value allowed (<c>minimum</c>); on a list of numbers, for each item.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class MinimumAttribute(double value) : Attribute
{
    public double Value { get; } = value;

    /// <summary>True when the value itself is not allowed (<c>exclusiveMinimum</c>).</summary>
    public bool Exclusive { get; init; }
}

/// <summary>The largest value allowed (<c>maximum</c>); on a list of numbers, for each item.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class MaximumAttribute(double value) : Attribute
{
    public double Value { get; } = value;

    /// <summary>True when the value itself is not allowed (<c>exclusiveMaximum</c>).</summary>
    public bool Exclusive { get; init; }
}

/// <summary>
/// Publishes the property's C# initializer as the schema <c>default</c>, so the API server fills it in and
/// <c>kubectl get -o yaml</c> shows the value in force. Read from the initializer so the two cannot disagree.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class DefaultedAttribute : Attribute;

/// <summary>The list holds distinct values (<c>x-kubernetes-list-type: set</c>): the API server rejects repeats.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class UniqueItemsAttribute : Attribute;
