using System;
using System.Runtime.CompilerServices;
using Tars.Agents.Abi;

unsafe
{
    var failures = 0;
    void Check(string what, int actual, int expected)
    {
        if (actual != expected) { Console.Error.WriteLine($"ABI drift: {what} is {actual}, expected {expected}"); failures++; }
    }
    Check("TensorView", sizeof(TensorView), AbiLayout.TensorViewSize);
    Check("Message", sizeof(Message), AbiLayout.MessageSize);
    Check("HostApi", sizeof(HostApi), AbiLayout.HostApiSize);
    Check("ABI version", (int)AbiConstants.AbiVersion, 1);
    Console.WriteLine(failures == 0 ? "C# bindings match the ABI" : "C# bindings drifted");
    return failures == 0 ? 0 : 1;
}
