using System;
using System.Diagnostics;
using System.Globalization;
using System.Threading;

namespace Benchmarks;

/// <summary>
/// Another process spinning on one CPU for as long as this object lives: a second program, or a neighbour on a shared
/// VM, taking a core away. It is this benchmark binary started with <c>--spin-on-cpu N</c>, which pins itself to CPU N
/// and spins; spin barriers that expect every thread to be on its own core (OpenMP's) collapse under it.
/// </summary>
internal sealed class BusyCore : IDisposable
{
    public const string Argument = "--spin-on-cpu";

    private readonly Process _process;

    public BusyCore(int cpu)
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("no path to this executable");
        var info = new ProcessStartInfo(self) { UseShellExecute = false };
        // Under `dotnet Benchmarks.dll` the executable is the host: pass it the assembly first.
        if (System.IO.Path.GetFileNameWithoutExtension(self) == "dotnet") info.ArgumentList.Add(Environment.GetCommandLineArgs()[0]);
        info.ArgumentList.Add(Argument);
        info.ArgumentList.Add(cpu.ToString(CultureInfo.InvariantCulture));
        _process = Process.Start(info) ?? throw new InvalidOperationException("could not start the spinning process");
        Thread.Sleep(200); // let it pin itself and take the core
    }

    /// <summary>The child's side: pin this thread (the process's main thread) to <paramref name="cpu"/> and spin until killed.</summary>
    public static int Spin(int cpu)
    {
        if (cpu < 0 || cpu >= Environment.ProcessorCount) { Console.Error.WriteLine($"error: no CPU {cpu}"); return 2; }
        if (OperatingSystem.IsLinux() || OperatingSystem.IsWindows()) Process.GetCurrentProcess().ProcessorAffinity = (nint)(1L << cpu);
        long n = 0;
        while (true) n = Volatile.Read(ref n) + 1;
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill();
        _process.WaitForExit();
        _process.Dispose();
    }
}
