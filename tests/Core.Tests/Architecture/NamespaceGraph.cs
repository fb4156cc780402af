using System.Collections.Immutable;
using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace Tollgate.Core.Tests.Architecture;

/// <summary>One reference from a type in one top-level namespace to a type in another.</summary>
public sealed record NamespaceEdge(string From, string To, string FromType, string ToType);

/// <summary>
/// The references between the top-level namespaces under <c>prefix</c> in one assembly, read from its metadata and IL
/// with System.Reflection.Metadata: base types, interfaces, field, property and method signatures, generic
/// constraints, local variables, and every type, method and field token in method bodies (so a dependency that only
/// a method body has is seen). Compiler-generated nested types (closures, async state machines) count for the type
/// that declares them. Only references to types defined in the same assembly are edges.
/// </summary>
public static class NamespaceGraph
{
    public static IReadOnlyList<NamespaceEdge> Read(string assemblyPath, string prefix)
    {
        using var stream = File.OpenRead(assemblyPath);
        using var pe = new PEReader(stream);
        var reader = pe.GetMetadataReader();
        var edges = new Dictionary<(string, string), NamespaceEdge>();
        foreach (var handle in reader.TypeDefinitions)
        {
            var from = TopLevel(reader, handle, prefix);
            if (from is null)
            {
                continue;
            }
            foreach (var target in References(reader, pe, handle))
            {
                var to = TopLevel(reader, target, prefix);
                if (to is not null && to != from)
                {
                    edges.TryAdd((from, to), new NamespaceEdge(from, to, FullName(reader, handle), FullName(reader, target)));
                }
            }
        }
        return [.. edges.Values.OrderBy(edge => edge.From, StringComparer.Ordinal).ThenBy(edge => edge.To, StringComparer.Ordinal)];
    }

    /// <summary>Every cycle among the namespaces, as the strongly connected components with more than one member.</summary>
    public static IReadOnlyList<IReadOnlyList<string>> Cycles(IReadOnlyList<NamespaceEdge> edges)
    {
        var next = edges.GroupBy(edge => edge.From).ToDictionary(group => group.Key, group => group.Select(edge => edge.To).ToList());
        var nodes = edges.SelectMany(edge => new[] { edge.From, edge.To }).Distinct().Order(StringComparer.Ordinal).ToList();
        var reach = nodes.ToDictionary(node => node, node => Reachable(node, next));
        var cycles = new List<IReadOnlyList<string>>();
        var placed = new HashSet<string>();
        foreach (var node in nodes)
        {
            if (placed.Contains(node))
            {
                continue;
            }
            var component = nodes.Where(other => other == node || (reach[node].Contains(other) && reach[other].Contains(node))).ToList();
            placed.UnionWith(component);
            if (component.Count > 1)
            {
                cycles.Add(component);
            }
        }
        return cycles;
    }

    private static HashSet<string> Reachable(string start, Dictionary<string, List<string>> next)
    {
        var seen = new HashSet<string>();
        var pending = new Stack<string>([start]);
        while (pending.TryPop(out var node))
        {
            foreach (var to in next.GetValueOrDefault(node) ?? [])
            {
                if (seen.Add(to))
                {
                    pending.Push(to);
                }
            }
        }
        return seen;
    }

    private static HashSet<TypeDefinitionHandle> References(MetadataReader reader, PEReader pe, TypeDefinitionHandle handle)
    {
        var found = new HashSet<TypeDefinitionHandle>();
        var provider = new Collector(found);
        var type = reader.GetTypeDefinition(handle);
        AddEntity(reader, provider, type.BaseType);
        foreach (var implementation in type.GetInterfaceImplementations())
        {
            AddEntity(reader, provider, reader.GetInterfaceImplementation(implementation).Interface);
        }
        AddConstraints(reader, provider, type.GetGenericParameters());
        foreach (var field in type.GetFields())
        {
            reader.GetFieldDefinition(field).DecodeSignature(provider, null);
        }
        foreach (var property in type.GetProperties())
        {
            reader.GetPropertyDefinition(property).DecodeSignature(provider, null);
        }
        foreach (var methodHandle in type.GetMethods())
        {
            var method = reader.GetMethodDefinition(methodHandle);
            method.DecodeSignature(provider, null);
            AddConstraints(reader, provider, method.GetGenericParameters());
            if (method.RelativeVirtualAddress != 0)
            {
                AddBody(reader, provider, pe.GetMethodBody(method.RelativeVirtualAddress));
            }
        }
        return found;
    }

    private static void AddConstraints(MetadataReader reader, Collector provider, GenericParameterHandleCollection parameters)
    {
        foreach (var parameter in parameters)
        {
            foreach (var constraint in reader.GetGenericParameter(parameter).GetConstraints())
            {
                AddEntity(reader, provider, reader.GetGenericParameterConstraint(constraint).Type);
            }
        }
    }

    private static void AddBody(MetadataReader reader, Collector provider, MethodBodyBlock body)
    {
        if (!body.LocalSignature.IsNil)
        {
            reader.GetStandaloneSignature(body.LocalSignature).DecodeLocalSignature(provider, null);
        }
        IlTokens.Walk(body, token =>
        {
            AddEntity(reader, provider, token);
            return true;
        });
    }

    private static void AddEntity(MetadataReader reader, Collector provider, EntityHandle handle)
    {
        if (handle.IsNil)
        {
            return;
        }
        switch (handle.Kind)
        {
            case HandleKind.TypeDefinition:
                provider.GetTypeFromDefinition(reader, (TypeDefinitionHandle)handle, 0);
                break;
            case HandleKind.TypeSpecification:
                reader.GetTypeSpecification((TypeSpecificationHandle)handle).DecodeSignature(provider, null);
                break;
            case HandleKind.MethodDefinition:
                var method = reader.GetMethodDefinition((MethodDefinitionHandle)handle);
                provider.GetTypeFromDefinition(reader, method.GetDeclaringType(), 0);
                method.DecodeSignature(provider, null);
                break;
            case HandleKind.FieldDefinition:
                var field = reader.GetFieldDefinition((FieldDefinitionHandle)handle);
                provider.GetTypeFromDefinition(reader, field.GetDeclaringType(), 0);
                field.DecodeSignature(provider, null);
                break;
            case HandleKind.MemberReference:
                var member = reader.GetMemberReference((MemberReferenceHandle)handle);
                AddEntity(reader, provider, member.Parent);
                if (member.GetKind() == MemberReferenceKind.Method)
                {
                    member.DecodeMethodSignature(provider, null);
                }
                else
                {
                    member.DecodeFieldSignature(provider, null);
                }
                break;
            case HandleKind.MethodSpecification:
                var specification = reader.GetMethodSpecification((MethodSpecificationHandle)handle);
                AddEntity(reader, provider, specification.Method);
                specification.DecodeSignature(provider, null);
                break;
        }
    }

    /// <summary>The namespace segment after <paramref name="prefix"/> of the outermost type declaring <paramref name="handle"/>.</summary>
    private static string? TopLevel(MetadataReader reader, TypeDefinitionHandle handle, string prefix)
    {
        var type = reader.GetTypeDefinition(handle);
        while (type.IsNested)
        {
            type = reader.GetTypeDefinition(type.GetDeclaringType());
        }
        var name = reader.GetString(type.Namespace);
        if (!name.StartsWith(prefix + ".", StringComparison.Ordinal))
        {
            return null;
        }
        return name[(prefix.Length + 1)..].Split('.')[0];
    }

    private static string FullName(MetadataReader reader, TypeDefinitionHandle handle)
    {
        var type = reader.GetTypeDefinition(handle);
        var name = reader.GetString(type.Name);
        return type.IsNested
            ? FullName(reader, type.GetDeclaringType()) + "+" + name
            : reader.GetString(type.Namespace) + "." + name;
    }

    /// <summary>Decodes signatures only to collect the type definitions they name; the decoded values are not used.</summary>
    private sealed class Collector(HashSet<TypeDefinitionHandle> found) : ISignatureTypeProvider<object?, object?>
    {
        public object? GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind)
        {
            found.Add(handle);
            return null;
        }

        public object? GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => null;

        public object? GetTypeFromSpecification(MetadataReader reader, object? genericContext, TypeSpecificationHandle handle, byte rawTypeKind)
            => reader.GetTypeSpecification(handle).DecodeSignature(this, genericContext);

        public object? GetPrimitiveType(PrimitiveTypeCode typeCode) => null;

        public object? GetSZArrayType(object? elementType) => null;

        public object? GetArrayType(object? elementType, ArrayShape shape) => null;

        public object? GetByReferenceType(object? elementType) => null;

        public object? GetPointerType(object? elementType) => null;

        public object? GetPinnedType(object? elementType) => null;

        public object? GetGenericInstantiation(object? genericType, ImmutableArray<object?> typeArguments) => null;

        public object? GetGenericMethodParameter(object? genericContext, int index) => null;

        public object? GetGenericTypeParameter(object? genericContext, int index) => null;

        public object? GetFunctionPointerType(MethodSignature<object?> signature) => null;

        public object? GetModifiedType(object? modifier, object? unmodifiedType, bool isRequired) => null;
    }
}
