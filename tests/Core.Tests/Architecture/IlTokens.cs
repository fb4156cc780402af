using System.Collections.Immutable;
using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;

namespace Tollgate.Core.Tests.Architecture;

/// <summary>The metadata tokens a method body's IL refers to (fields, methods, types, ldtoken), in order.</summary>
internal static class IlTokens
{
    private static readonly ImmutableDictionary<ushort, OperandType> OperandTypes = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(field => (OpCode)field.GetValue(null)!)
        .ToImmutableDictionary(code => unchecked((ushort)code.Value), code => code.OperandType);

    /// <summary>Calls <paramref name="visit"/> with each token the body refers to; stops early when it returns false.</summary>
    /// <returns>False when <paramref name="visit"/> stopped the walk.</returns>
    public static bool Walk(MethodBodyBlock body, Func<EntityHandle, bool> visit)
    {
        var il = body.GetILReader();
        while (il.RemainingBytes > 0)
        {
            ushort value = il.ReadByte();
            if (value == 0xFE)
            {
                value = (ushort)(0xFE00 | il.ReadByte());
            }

            switch (OperandTypes[value])
            {
                case OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineTok or OperandType.InlineType:
                    if (!visit(MetadataTokens.EntityHandle(il.ReadInt32())))
                    {
                        return false;
                    }

                    break;
                case OperandType.InlineSwitch:
                    // Read the count first: in "Offset += 4 * ReadInt32()" the old offset is read before the count moves it.
                    var targets = il.ReadInt32();
                    il.Offset += 4 * targets;
                    break;
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    il.Offset += 1;
                    break;
                case OperandType.InlineVar:
                    il.Offset += 2;
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    il.Offset += 8;
                    break;
                default:
                    il.Offset += 4;
                    break;
            }
        }

        return true;
    }
}
