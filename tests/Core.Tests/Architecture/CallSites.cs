using System.Collections.Immutable;
using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace Tollgate.Core.Tests.Architecture;

/// <summary>
/// Which types of an assembly call a method of a type defined elsewhere, read from the IL of every method body (so
/// a call inside a lambda or an async method counts for the type that declares it).
/// </summary>
public static class CallSites
{
    /// <summary>The full names of the outermost types whose methods call <paramref name="type"/>'s methods named <paramref name="methods"/>.</summary>
    public static IReadOnlySet<string> Callers(string assemblyPath, string type, IReadOnlySet<string> methods)
    {
        using var stream = File.OpenRead(assemblyPath);
        using var pe = new PEReader(stream);
        var reader = pe.GetMetadataReader();
        var callers = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var handle in reader.TypeDefinitions)
        {
            foreach (var methodHandle in reader.GetTypeDefinition(handle).GetMethods())
            {
                var method = reader.GetMethodDefinition(methodHandle);
                if (method.RelativeVirtualAddress != 0 && Calls(reader, pe.GetMethodBody(method.RelativeVirtualAddress), type, methods))
                {
                    callers.Add(Outermost(reader, handle));
                }
            }
        }

        return callers;
    }

    private static bool Calls(MetadataReader reader, MethodBodyBlock body, string type, IReadOnlySet<string> methods) =>
        !IlTokens.Walk(body, token => !IsTarget(reader, token, type, methods));

    private static bool IsTarget(MetadataReader reader, EntityHandle handle, string type, IReadOnlySet<string> methods)
    {
        if (handle.Kind == HandleKind.MethodSpecification)
        {
            handle = reader.GetMethodSpecification((MethodSpecificationHandle)handle).Method;
        }

        if (handle.Kind != HandleKind.MemberReference)
        {
            return false;
        }

        var member = reader.GetMemberReference((MemberReferenceHandle)handle);
        if (member.Parent.Kind != HandleKind.TypeReference || !methods.Contains(reader.GetString(member.Name)))
        {
            return false;
        }

        var parent = reader.GetTypeReference((TypeReferenceHandle)member.Parent);
        return $"{reader.GetString(parent.Namespace)}.{reader.GetString(parent.Name)}" == type;
    }

    private static string Outermost(MetadataReader reader, TypeDefinitionHandle handle)
    {
        var definition = reader.GetTypeDefinition(handle);
        while (definition.IsNested)
        {
            definition = reader.GetTypeDefinition(definition.GetDeclaringType());
        }

        return $"{reader.GetString(definition.Namespace)}.{reader.GetString(definition.Name)}";
    }
}
